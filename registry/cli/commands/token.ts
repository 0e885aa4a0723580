import type { Command } from 'commander';
import { createToken, formatScope, isAuthError, listTokens, revokeToken, tokenStatus } from '../../auth/index.js';
import type { TokenRecord } from '../../state/index.js';
import { asCliError, auditAdmin, dataDirOf, formatTable, formatTime, metadataOf, openState, requireDataDir } from '../admin-support.js';
import { group, jsonOption, leaf, optionsOf, repeatable, requireOption } from '../command-kit.js';

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

interface CreateOptions {
  name?: string;
  scope?: string[];
  expires?: string;
}

async function create(command: Command): Promise<void> {
  const values = optionsOf<CreateOptions>(command);
  const name = requireOption(command, values.name, '--name');
  const scopes = requireOption(command, values.scope, '--scope');
  const dataDir = dataDirOf(command);
  const store = await openState(dataDir, metadataOf(command));
  try {
    const { token, record } = await createToken(store, { name, scopes, expiresIn: values.expires ?? null }).catch(
      (error: unknown) => Promise.reject(asCliError(error)),
    );
    const expiry = record.expiresAt ? `expires ${formatTime(record.expiresAt)}` : 'never expires';
    console.log(`Created token "${record.name}" (${record.scopes.map(formatScope).join(' ')}; ${expiry}).`);
    console.log(`Log in with: echo "$TOKEN" | docker login HOST:PORT -u ${record.name} --password-stdin`);
    console.log('This is the only time the token is shown: store it now. The last line below is the token.');
    console.log(token);
    // Audited after printing: the token exists now, so a failed audit write must not also lose its only copy.
    // The secret never goes to the audit trail: name, scopes and expiry are enough to review who can do what.
    await auditAdmin(dataDir, metadataOf(command), {
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

async function list(command: Command): Promise<void> {
  const values = optionsOf<{ json?: boolean }>(command);
  const dataDir = dataDirOf(command);
  requireDataDir(dataDir);
  const store = await openState(dataDir, metadataOf(command));
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

async function revoke(name: string, command: Command): Promise<void> {
  const dataDir = dataDirOf(command);
  requireDataDir(dataDir);
  const store = await openState(dataDir, metadataOf(command));
  try {
    const record = await revokeToken(store, name).catch((error: unknown) => {
      if (!isAuthError(error) || error.code !== 'BERTH_TOKEN_NOT_FOUND') return Promise.reject(error);
      return Promise.reject(new Error(`${error.message}: see "berth token list" for the names of active tokens`));
    });
    await auditAdmin(dataDir, metadataOf(command), { action: 'token.revoke', detail: { name: record.name, id: record.id } });
    console.log(`Revoked token "${record.name}". Clients using it are refused from now on (a running server notices within a second).`);
  } finally {
    await store.close();
  }
}

export function registerTokenCommands(program: Command): void {
  const token = group(
    program,
    'token',
    'create, list and revoke access tokens',
    'Access tokens for "docker login" (user name = token name, password = token) and for the API.',
  );
  token.addHelpText('after', `
Examples:
  TOKEN=$(berth token create --name ci --scope 'team/*:pull,push' --expires 90d | tail -1)
  echo "$TOKEN" | docker login localhost:5000 -u ci --password-stdin`);

  leaf(token, 'create', '--name NAME --scope PATTERN:ACTIONS [--scope ...] [--expires DURATION]', 'makes a token and prints it ONCE, alone on the last line')
    .option('--name <NAME>', 'the token\'s name, which is the user name for docker login, e.g. --name ci')
    .option(
      '--scope <PATTERN:ACTIONS>',
      "what it may do, e.g. --scope 'team/*:pull,push' (repeatable). PATTERN is * (everything), NAMESPACE/* or an exact repository such as team/app; ACTIONS is a comma list of pull, push, delete, or * for all",
      repeatable,
    )
    .option('--expires <DURATION>', 'e.g. 12h, 30d, 1y (default: never)')
    .action((_options, command: Command) => create(command));
  leaf(token, 'list', '[--json]', 'every token: name, scopes, dates, status (active, expired, revoked); never the secret or its hash')
    .addOption(jsonOption())
    .action((_options, command: Command) => list(command));
  leaf(token, 'revoke', 'NAME', 'stops the token working; a running server notices within a second')
    .argument('<NAME>', 'the token NAME: see "berth token list"')
    .action((name: string, _options, command: Command) => revoke(name, command));
}
