import { createToken, formatScope, isAuthError, listTokens, revokeToken, tokenStatus } from '../../auth/index.js';
import type { TokenRecord } from '../../state/index.js';
import { defaultDataDir } from '../../config/data-dir.js';
import { CliUsageError } from '../cli-error.js';
import { asCliError, auditAdmin, dataDirOf, formatTable, formatTime, openState, parseCommandArgs, requireDataDir } from '../admin-support.js';

export const tokenUsage = `berth token create --name NAME --scope PATTERN:ACTIONS [--scope ...] [--expires DURATION] [--data DIR]
berth token list [--data DIR] [--json]
berth token revoke NAME [--data DIR]

Access tokens for "docker login" (user name = token name, password = token) and for the API.
  create   makes a token and prints it ONCE, alone on the last line:
             TOKEN=$(berth token create --name ci --scope 'team/*:pull,push' | tail -1)
           --scope    repeatable; PATTERN is * (everything), NAMESPACE/* or an exact repository;
                      ACTIONS is a comma list of pull, push, delete, or * for all
           --expires  e.g. 12h, 30d, 1y (default: never)
  list     every token: name, scopes, dates, status (active, expired, revoked); never the secret or its hash
           --json     a JSON array instead of the table
  revoke   stops the token working; a running server notices within a second

  --data DIR  data directory (default: ${defaultDataDir()}); works while "berth serve" runs on it`;

interface TokenView {
  id: string;
  name: string;
  scopes: string[];
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
  status: string;
}

/** What may leave the state file: everything but the hash. Built field by field so a new secret field never leaks. */
function viewOf(record: TokenRecord, now: Date): TokenView {
  return {
    id: record.id,
    name: record.name,
    scopes: record.scopes.map(formatScope),
    createdAt: record.createdAt,
    expiresAt: record.expiresAt ?? null,
    lastUsedAt: record.lastUsedAt ?? null,
    revokedAt: record.revokedAt ?? null,
    status: tokenStatus(record, now),
  };
}

async function create(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(
    argv,
    {
      name: { type: 'string' },
      scope: { type: 'string', multiple: true },
      expires: { type: 'string' },
      data: { type: 'string' },
    },
    'berth token',
  );
  if (positionals.length > 0) throw new CliUsageError(`unexpected argument "${positionals[0]}": the name goes in --name NAME`);
  if (!values.name) throw new CliUsageError('missing --name NAME (the user name for docker login), e.g. --name ci');
  if (!values.scope?.length) throw new CliUsageError(`missing --scope, e.g. --scope 'team/*:pull,push' (repeat it for more)`);
  const dataDir = dataDirOf(values);
  const store = await openState(dataDir);
  try {
    const { token, record } = await createToken(store, { name: values.name, scopes: values.scope, expiresIn: values.expires ?? null }).catch(
      (error: unknown) => Promise.reject(asCliError(error)),
    );
    const expiry = record.expiresAt ? `expires ${formatTime(record.expiresAt)}` : 'never expires';
    console.log(`Created token "${record.name}" (${record.scopes.map(formatScope).join(' ')}; ${expiry}).`);
    console.log(`Log in with: echo "$TOKEN" | docker login HOST:PORT -u ${record.name} --password-stdin`);
    console.log('This is the only time the token is shown: store it now. The last line below is the token.');
    console.log(token);
    // Audited after printing: the token exists now, so a failed audit write must not also lose its only copy.
    // The secret never goes to the audit trail: name, scopes and expiry are enough to review who can do what.
    await auditAdmin(dataDir, {
      action: 'token.create',
      detail: { name: record.name, id: record.id, scopes: record.scopes.map(formatScope), expiresAt: record.expiresAt ?? null },
    }).catch((error: unknown) => {
      console.error(`berth: warning: token "${record.name}" was created but its audit event was not written: ${(error as Error).message}`);
      process.exitCode = 1;
    });
  } finally {
    await store.close();
  }
}

async function list(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(argv, { data: { type: 'string' }, json: { type: 'boolean', default: false } }, 'berth token');
  if (positionals.length > 0) throw new CliUsageError(`unexpected argument "${positionals[0]}": "berth token list" takes no names`);
  const dataDir = dataDirOf(values);
  requireDataDir(dataDir);
  const store = await openState(dataDir);
  try {
    const now = new Date();
    const views = listTokens(store).map((record) => viewOf(record, now));
    if (values.json) {
      console.log(JSON.stringify(views, null, 2));
      return;
    }
    if (views.length === 0) {
      console.log(`No tokens yet. Create one with: berth token create --name NAME --scope 'team/*:pull,push'`);
      return;
    }
    const rows = views.map((view) => [
      view.name,
      view.scopes.join(' '),
      formatTime(view.createdAt),
      formatTime(view.expiresAt, 'never'),
      formatTime(view.lastUsedAt, 'never'),
      view.status === 'revoked' ? `revoked ${formatTime(view.revokedAt)}` : view.status,
    ]);
    console.log(formatTable(['NAME', 'SCOPES', 'CREATED', 'EXPIRES', 'LAST USED', 'STATUS'], rows));
  } finally {
    await store.close();
  }
}

async function revoke(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(argv, { data: { type: 'string' } }, 'berth token');
  const [name, ...extra] = positionals;
  if (!name) throw new CliUsageError('missing the token NAME: berth token revoke NAME (see "berth token list")');
  if (extra.length > 0) throw new CliUsageError(`revoke one token at a time (unexpected "${extra[0]}")`);
  const dataDir = dataDirOf(values);
  requireDataDir(dataDir);
  const store = await openState(dataDir);
  try {
    const record = await revokeToken(store, name).catch((error: unknown) => {
      if (!isAuthError(error) || error.code !== 'BERTH_TOKEN_NOT_FOUND') return Promise.reject(error);
      return Promise.reject(new Error(`${error.message}: see "berth token list" for the names of active tokens`));
    });
    await auditAdmin(dataDir, { action: 'token.revoke', detail: { name: record.name, id: record.id } });
    console.log(`Revoked token "${record.name}". Clients using it are refused from now on (a running server notices within a second).`);
  } finally {
    await store.close();
  }
}

const subcommands: Record<string, (argv: string[]) => Promise<void>> = { create, list, revoke };

export async function tokenCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const run = sub === undefined ? undefined : subcommands[sub];
  if (!run) throw new CliUsageError(`${sub ? `unknown token command "${sub}"` : 'missing token command'}: use create, list or revoke\n\n${tokenUsage}`);
  await run(rest);
}
