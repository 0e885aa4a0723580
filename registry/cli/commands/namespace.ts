import type { Command } from 'commander';
import { isRepositoryName } from '../../core/names.js';
import type { NamespaceRecord } from '../../state/index.js';
import { CliUsageError } from '../cli-error.js';
import { auditAdmin, dataDirOf, formatTable, formatTime, metadataOf, openState, requireDataDir } from '../admin-support.js';
import { booleanValue, group, jsonOption, leaf, optionsOf, requireOption } from '../command-kit.js';
import { namespacePolicy } from '../../lifecycle/policies.js';
import { namespaceUsagesIfReadable } from '../namespace-usage.js';
import { quotaColumns } from './quota.js';

/** A namespace is one path component of the repository grammar: `team`, `my-org`, never `a/b`. */
function checkName(name: string): string {
  if (name.includes('/') || !isRepositoryName(name)) {
    throw new CliUsageError(`invalid namespace "${name.slice(0, 80)}": one lowercase name component like team or my-org (a-z 0-9 . _ -)`);
  }
  return name;
}

async function list(command: Command): Promise<void> {
  const values = optionsOf<{ json?: boolean }>(command);
  const dataDir = dataDirOf(command);
  requireDataDir(dataDir);
  const store = await openState(dataDir, metadataOf(command));
  let state;
  try {
    state = store.read();
  } finally {
    await store.close();
  }
  const namespaces = [...state.namespaces].sort((a, b) => a.name.localeCompare(b.name));
  const usages = await namespaceUsagesIfReadable(command, state, namespaces.map((ns) => ns.name));
  const rows = namespaces.map((ns) => ({ ...ns, usage: usages?.get(ns.name), quota: { ...namespacePolicy(state, ns.name)?.quota } }));
  if (values.json) {
    console.log(JSON.stringify(rows, null, 2));
    return;
  }
  if (namespaces.length === 0) {
    console.log('No namespaces configured. Create one with: berth namespace create NAME [--anonymous-pull]');
    return;
  }
  const table = rows.map((ns) => [ns.name, ns.anonymousPull ? 'yes' : 'no', ...quotaColumns(ns), formatTime(ns.createdAt)]);
  console.log(formatTable(['NAME', 'ANONYMOUS PULL', 'STORAGE USED', 'STORAGE QUOTA', 'PULLED THIS MONTH', 'PULL QUOTA', 'CREATED'], table));
}

async function create(rawName: string, command: Command): Promise<void> {
  const values = optionsOf<{ anonymousPull?: boolean }>(command);
  const name = checkName(rawName);
  const dataDir = dataDirOf(command);
  const store = await openState(dataDir, metadataOf(command));
  const record: NamespaceRecord = { name, anonymousPull: values.anonymousPull === true, createdAt: new Date().toISOString() };
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
  await auditAdmin(dataDir, metadataOf(command), { action: 'namespace.create', namespace: name, detail: { anonymousPull: record.anonymousPull } });
  console.log(`Created namespace "${name}" (anonymous pull: ${record.anonymousPull ? 'allowed' : 'not allowed'}).`);
}

async function set(rawName: string, command: Command): Promise<void> {
  const name = checkName(rawName);
  const anonymousPull = requireOption(command, optionsOf<{ anonymousPull?: boolean }>(command).anonymousPull, '--anonymous-pull');
  const dataDir = dataDirOf(command);
  requireDataDir(dataDir);
  const store = await openState(dataDir, metadataOf(command));
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
    await auditAdmin(dataDir, metadataOf(command), { action: 'namespace.update', namespace: name, detail: { anonymousPull, was: before } });
  }
  console.log(`Namespace "${name}": anonymous pull ${anonymousPull ? 'allowed' : 'not allowed'}${before === anonymousPull ? ' (unchanged)' : ''}.`);
}

async function remove(rawName: string, command: Command): Promise<void> {
  const name = checkName(rawName);
  const dataDir = dataDirOf(command);
  requireDataDir(dataDir);
  const store = await openState(dataDir, metadataOf(command));
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
  await auditAdmin(dataDir, metadataOf(command), { action: 'namespace.delete', namespace: name, detail: { anonymousPull: removed?.anonymousPull ?? false } });
  console.log(`Deleted namespace "${name}". Images stored under ${name}/ are kept; tokens with ${name}/* scopes still work.`);
}

export function registerNamespaceCommands(program: Command): void {
  const namespace = group(
    program,
    'namespace',
    'list, create, change and delete namespaces',
    'Namespaces are the first part of a repository name ("team" in team/app): the unit that tokens\' scopes (team/*) ' +
      'and anonymous pulls are granted on.',
  );
  const nameArgument = 'the namespace NAME, one name component such as team';
  leaf(namespace, 'list', '[--json]', 'every namespace: anonymous pulls, storage and pull usage against its quotas')
    .addOption(jsonOption())
    .action((_options, command: Command) => list(command));
  leaf(namespace, 'create', 'NAME [--anonymous-pull]', 'creates a namespace, private unless --anonymous-pull')
    .argument('<NAME>', nameArgument)
    .option('--anonymous-pull [BOOL]', 'anyone may pull from it without a token (push and delete always need one)', booleanValue('--anonymous-pull'))
    .action((name: string, _options, command: Command) => create(name, command));
  leaf(namespace, 'set', 'NAME --anonymous-pull=true|false', 'opens the namespace to anonymous pulls, or closes it')
    .argument('<NAME>', nameArgument)
    .option('--anonymous-pull <BOOL>', 'true: anyone may pull without a token; false: pulls need a token', booleanValue('--anonymous-pull'))
    .action((name: string, _options, command: Command) => set(name, command));
  leaf(namespace, 'delete', 'NAME', "removes the namespace's settings only; images stored under it are kept")
    .alias('rm')
    .argument('<NAME>', nameArgument)
    .action((name: string, _options, command: Command) => remove(name, command));
}
