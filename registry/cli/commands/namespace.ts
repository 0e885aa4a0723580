import { isRepositoryName } from '../../core/names.js';
import { defaultDataDir } from '../../config/data-dir.js';
import type { NamespaceRecord } from '../../state/index.js';
import { CliUsageError } from '../cli-error.js';
import { auditAdmin, dataDirOf, formatTable, formatTime, openState, parseAnonymousPull, parseCommandArgs, requireDataDir } from '../admin-support.js';

export const namespaceUsage = `berth namespace list [--data DIR] [--json]
berth namespace create NAME [--anonymous-pull] [--data DIR]
berth namespace set NAME --anonymous-pull=true|false [--data DIR]
berth namespace delete NAME [--data DIR]

Namespaces are the first part of a repository name ("team" in team/app): the unit that tokens' scopes
(team/*) and anonymous pulls are granted on.
  --anonymous-pull   anyone may pull from the namespace without a token (push and delete always need one)
  delete             removes the namespace's settings only; images stored under it are kept

  --data DIR  data directory (default: ${defaultDataDir()}); works while "berth serve" runs on it`;

/** A namespace is one path component of the repository grammar: `team`, `my-org`, never `a/b`. */
function checkName(name: string | undefined, sub: string): string {
  if (!name) throw new CliUsageError(`missing the namespace NAME: berth namespace ${sub} NAME`);
  if (name.includes('/') || !isRepositoryName(name)) {
    throw new CliUsageError(`invalid namespace "${name.slice(0, 80)}": one lowercase name component like team or my-org (a-z 0-9 . _ -)`);
  }
  return name;
}

function onlyOne(positionals: string[], sub: string): string {
  if (positionals.length > 1) throw new CliUsageError(`berth namespace ${sub} takes one NAME (unexpected "${positionals[1]}")`);
  return checkName(positionals[0], sub);
}

async function list(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(argv, { data: { type: 'string' }, json: { type: 'boolean', default: false } }, 'berth namespace');
  if (positionals.length > 0) throw new CliUsageError(`unexpected argument "${positionals[0]}": "berth namespace list" takes no names`);
  const dataDir = dataDirOf(values);
  requireDataDir(dataDir);
  const store = await openState(dataDir);
  try {
    const namespaces = [...store.read().namespaces].sort((a, b) => a.name.localeCompare(b.name));
    if (values.json) {
      console.log(JSON.stringify(namespaces, null, 2));
      return;
    }
    if (namespaces.length === 0) {
      console.log('No namespaces configured. Create one with: berth namespace create NAME [--anonymous-pull]');
      return;
    }
    const rows = namespaces.map((ns) => [ns.name, ns.anonymousPull ? 'yes' : 'no', formatTime(ns.createdAt)]);
    console.log(formatTable(['NAME', 'ANONYMOUS PULL', 'CREATED'], rows));
  } finally {
    await store.close();
  }
}

async function create(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(
    argv,
    { data: { type: 'string' }, 'anonymous-pull': { type: 'boolean', default: false } },
    'berth namespace',
  );
  const name = onlyOne(positionals, 'create');
  const dataDir = dataDirOf(values);
  const store = await openState(dataDir);
  const record: NamespaceRecord = { name, anonymousPull: values['anonymous-pull'] === true, createdAt: new Date().toISOString() };
  try {
    await store.update((draft) => {
      // Checked under the lock, so two concurrent creates cannot both succeed.
      if (draft.namespaces.some((ns) => ns.name === name)) {
        throw new Error(`namespace "${name}" already exists: change it with "berth namespace set ${name} --anonymous-pull=true|false"`);
      }
      draft.namespaces.push(record);
    });
  } finally {
    await store.close();
  }
  await auditAdmin(dataDir, { action: 'namespace.create', namespace: name, detail: { anonymousPull: record.anonymousPull } });
  console.log(`Created namespace "${name}" (anonymous pull: ${record.anonymousPull ? 'allowed' : 'not allowed'}).`);
}

async function set(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(argv, { data: { type: 'string' }, 'anonymous-pull': { type: 'string' } }, 'berth namespace');
  const name = onlyOne(positionals, 'set');
  if (values['anonymous-pull'] === undefined) throw new CliUsageError('nothing to set: use --anonymous-pull=true or --anonymous-pull=false');
  const anonymousPull = parseAnonymousPull(values['anonymous-pull']);
  const dataDir = dataDirOf(values);
  requireDataDir(dataDir);
  const store = await openState(dataDir);
  let before: boolean | undefined;
  try {
    await store.update((draft) => {
      const record = draft.namespaces.find((ns) => ns.name === name);
      if (!record) throw new Error(`no namespace "${name}": create it with "berth namespace create ${name}"`);
      before = record.anonymousPull;
      record.anonymousPull = anonymousPull;
    });
  } finally {
    await store.close();
  }
  if (before !== anonymousPull) {
    await auditAdmin(dataDir, { action: 'namespace.update', namespace: name, detail: { anonymousPull, was: before } });
  }
  console.log(`Namespace "${name}": anonymous pull ${anonymousPull ? 'allowed' : 'not allowed'}${before === anonymousPull ? ' (unchanged)' : ''}.`);
}

async function remove(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(argv, { data: { type: 'string' } }, 'berth namespace');
  const name = onlyOne(positionals, 'delete');
  const dataDir = dataDirOf(values);
  requireDataDir(dataDir);
  const store = await openState(dataDir);
  let removed: NamespaceRecord | undefined;
  try {
    await store.update((draft) => {
      const index = draft.namespaces.findIndex((ns) => ns.name === name);
      if (index === -1) throw new Error(`no namespace "${name}": see "berth namespace list"`);
      [removed] = draft.namespaces.splice(index, 1);
    });
  } finally {
    await store.close();
  }
  await auditAdmin(dataDir, { action: 'namespace.delete', namespace: name, detail: { anonymousPull: removed?.anonymousPull ?? false } });
  console.log(`Deleted namespace "${name}". Images stored under ${name}/ are kept; tokens with ${name}/* scopes still work.`);
}

const subcommands: Record<string, (argv: string[]) => Promise<void>> = { list, create, set, delete: remove };

export async function namespaceCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const run = sub === undefined ? undefined : subcommands[sub];
  if (!run) {
    throw new CliUsageError(`${sub ? `unknown namespace command "${sub}"` : 'missing namespace command'}: use list, create, set or delete\n\n${namespaceUsage}`);
  }
  await run(rest);
}
