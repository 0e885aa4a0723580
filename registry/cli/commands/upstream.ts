import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { listensOnLoopbackOnly } from '../../config/listen-address.js';
import { DurationError, parseDuration } from '../../core/duration.js';
import {
  addUpstream,
  checkUpstreamInput,
  checkUpstreamName,
  defaultTagTtlSeconds,
  isUpstreamChangeError,
  removeUpstream,
  repositoryCounter,
  updateUpstream,
  type AddUpstreamResult,
  type RemoveUpstreamResult,
  type RepositoryCounter,
  type UpstreamInput,
  type UpstreamPatch,
} from '../../mirror/upstream-changes.js';
import { createUpstreamPool } from '../../mirror/upstream-pool.js';
import { testUpstream } from '../../mirror/upstream-test.js';
import { isDockerHub } from '../../mirror/upstream.js';
import { silentLogger } from '../../log.js';
import type { NamespaceRecord, UpstreamRecord } from '../../state/index.js';
import { listedRepositories } from '../../storage/repository-walk.js';
import { CliUsageError } from '../cli-error.js';
import { auditAdmin, dataDirOf, formatTable, formatTime, metadataOf, openState, requireDataDir, storageOf, withStorage } from '../admin-support.js';
import { openSecretBox } from '../../state/metadata-backend.js';
import { booleanValue, failUsage, group, jsonOption, leaf, optionsOf, repeatable } from '../command-kit.js';
import { formatSeconds } from '../format.js';
import { reachableFromLoopbackOnly } from '../server-address.js';

/** What `list --json` shows: built field by field so a secret field added to the record never leaks. */
export interface UpstreamView {
  name: string;
  url: string;
  aliases: string[];
  default: boolean;
  auth: boolean;
  username: string | null;
  insecure: boolean;
  caFile: boolean;
  tagTtlSeconds: number;
  /** Whether its namespace allows pulls without a token. */
  anonymousPull: boolean;
  createdAt: string;
}

function viewOf(record: UpstreamRecord, namespaces: readonly NamespaceRecord[]): UpstreamView {
  return {
    name: record.name,
    url: record.url,
    aliases: [...record.aliases],
    default: record.isDefault,
    auth: record.passwordSealed !== undefined,
    username: record.username ?? null,
    insecure: record.insecure,
    caFile: record.caPem !== undefined,
    tagTtlSeconds: record.tagTtlSeconds,
    anonymousPull: namespaces.some((ns) => ns.name === record.name && ns.anonymousPull),
    createdAt: record.createdAt,
  };
}

/**
 * The shared upstream rules' refusals in the CLI's terms: a bad value is how the command was called (exit 2, naming
 * the flag), a clash with what is already there is a runtime error (exit 1) that says what to do.
 */
function asCliError(error: unknown, flags: { caFile?: string } = {}): unknown {
  if (!isUpstreamChangeError(error)) return error;
  const { message } = error;
  switch (error.code) {
    case 'BERTH_UPSTREAM_NAME_INVALID':
      return new CliUsageError(message);
    case 'BERTH_UPSTREAM_CONFIG_INVALID': {
      const field = error.details.field;
      const flag = field === 'aliases' ? '--alias' : field === 'caPem' ? `--ca-file ${flags.caFile ?? ''}` : field === 'tagTtlSeconds' ? '--tag-ttl' : undefined;
      return new CliUsageError(flag ? `${flag.trim()}: ${message}` : message);
    }
    case 'BERTH_UPSTREAM_EXISTS':
      return new Error(`${message}: see "berth upstream list", or remove it first with "berth upstream remove ${error.details.upstream ?? 'NAME'}"`);
    case 'BERTH_NAMESPACE_HAS_CONTENT':
      return new Error(`${message} (or pass --adopt if that content is an earlier cache of this upstream)`);
    case 'BERTH_UPSTREAM_NOT_FOUND':
      return new Error(`${message}: see "berth upstream list"`);
    case 'BERTH_UPSTREAM_IN_USE':
      return new Error(`${message}; delete them first with "berth sync remove RULE"`);
    case 'BERTH_UPSTREAM_HOST_TAKEN':
      return new Error(message);
  }
}

/** The upstream's name is its pull-through namespace, so it follows the namespace grammar (the shared check). */
function checkName(name: string): string {
  try {
    return checkUpstreamName(name);
  } catch (error) {
    throw asCliError(error);
  }
}

/** A duration such as 10m; its range is the shared rules' to check. */
function parseTagTtl(text: string): number {
  if (/^0+[smhdwy]?$/.test(text.trim())) return 0;
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (error) {
    if (error instanceof DurationError) throw new CliUsageError(`--tag-ttl: ${error.message}`);
    throw error;
  }
  return Math.round(ms / 1000);
}

/** All of standard input, without the trailing newline that `echo` and here-strings add. */
async function readPasswordFromStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new CliUsageError('--password-stdin reads the password from standard input: pipe it in, e.g. printf %s "$PASS" | berth upstream add NAME URL --username USER --password-stdin');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk);
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (password === '') throw new CliUsageError('--password-stdin: standard input was empty');
  return password;
}

/** Repositories stored under a namespace, read from the command's storage the way the registry walks it (opened only when asked). */
function storedRepositories(command: Command, dataDir: string): RepositoryCounter {
  return repositoryCounter(() => withStorage(dataDir, storageOf(command), metadataOf(command), (driver) => listedRepositories(driver)));
}

interface AddOptions {
  default?: boolean;
  alias?: string[];
  insecure?: boolean;
  caFile?: string;
  username?: string;
  passwordStdin?: boolean;
  tagTtl?: string;
  anonymousPull?: boolean;
  adopt?: boolean;
}

/** A CA file's PEM text; reading it is the command's business, checking it the shared rules'. */
async function readCaFile(path: string): Promise<string> {
  return readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new Error(`cannot read --ca-file ${path}: ${error.code === 'ENOENT' ? 'no such file' : (error.code ?? error.message)}`);
  });
}

async function add(rawName: string, rawUrl: string, command: Command): Promise<void> {
  const values = optionsOf<AddOptions>(command);
  const name = checkName(rawName);
  if (values.username !== undefined && !values.passwordStdin) {
    failUsage(command, '--username needs --password-stdin (the password is read from standard input, never from the command line)');
  }
  if (values.passwordStdin && values.username === undefined) failUsage(command, '--password-stdin needs --username USER');
  const tagTtlSeconds = values.tagTtl === undefined ? defaultTagTtlSeconds : parseTagTtl(values.tagTtl);
  const anonymousPull = values.anonymousPull;
  const caPem = values.caFile === undefined ? undefined : await readCaFile(values.caFile);
  const password = values.passwordStdin ? await readPasswordFromStdin() : undefined;

  const input: UpstreamInput = {
    name,
    url: rawUrl,
    aliases: values.alias ?? [],
    isDefault: values.default === true,
    username: values.username,
    password,
    caPem,
    insecure: values.insecure === true,
    tagTtlSeconds,
    ...(anonymousPull !== undefined ? { anonymousPull } : {}),
  };
  try {
    // A mistyped command must not leave a new data directory behind: check before opening it.
    checkUpstreamInput(input);
  } catch (error) {
    throw asCliError(error, { caFile: values.caFile });
  }

  const dataDir = dataDirOf(command);
  const store = await openState(dataDir, metadataOf(command));
  let result: AddUpstreamResult;
  try {
    const secrets = await openSecretBox(dataDir, metadataOf(command));
    const sealSecret = (plain: string) => secrets.seal(plain);
    // What the settings say: flags of a running `berth serve` are not known here, so a server started with a
    // network --listen should be told apart by persisting it (Settings) or by passing --anonymous-pull.
    const loopbackOnly = await reachableFromLoopbackOnly(dataDir, listensOnLoopbackOnly(store.read().settings));
    result = await addUpstream(store, input, { sealSecret, loopbackOnly, repositoriesHeld: storedRepositories(command, dataDir), adopt: values.adopt === true });
  } catch (error) {
    throw asCliError(error, { caFile: values.caFile });
  } finally {
    await store.close();
  }
  const { record, previousDefault, namespaceCreated, anonymousPullSource } = result;
  const { url, aliases } = record;
  await auditAdmin(dataDir, metadataOf(command), {
    action: 'upstream.add',
    namespace: name,
    detail: { name, url, aliases, isDefault: record.isDefault, auth: password !== undefined, insecure: record.insecure, tagTtlSeconds: record.tagTtlSeconds, previousDefault: previousDefault ?? null },
  });
  if (namespaceCreated) {
    await auditAdmin(dataDir, metadataOf(command), { action: 'namespace.create', namespace: name, detail: { anonymousPull: result.anonymousPull, reason: 'upstream.add', source: anonymousPullSource } });
  } else if (anonymousPullSource === 'chosen') {
    await auditAdmin(dataDir, metadataOf(command), { action: 'namespace.update', namespace: name, detail: { anonymousPull: result.anonymousPull, reason: 'upstream.add' } });
  }

  const example = isDockerHub({ name, url, aliases }) ? 'library/redis:7' : 'REPOSITORY:TAG';
  console.log(`Added upstream "${name}" (${url}${aliases.length ? `, also known as ${aliases.join(', ')}` : ''}).`);
  console.log(`Pull through it with: docker pull HOST:PORT/${name}/${example}`);
  if (record.isDefault) {
    console.log(
      previousDefault
        ? `"${name}" is now the default upstream (was "${previousDefault}"): names that are not a local namespace are pulled from it.`
        : `"${name}" is the default upstream: names that are not a local namespace are pulled from it (Docker's registry-mirrors).`,
    );
  }
  console.log(anonymousPullNote(name, result, password !== undefined));
  if (record.isDefault && !result.anonymousPull) {
    console.log(`Docker's registry-mirrors will not pull through "${name}" while it is private: dockerd sends mirrors no credentials Berth can check.`);
  }
  console.log(`Pushes to "${name}" are refused (it mirrors the upstream). Client setup: berth mirror-config`);
}

/** Why the namespace's anonymous pull is what it is. */
function anonymousPullReason(result: AddUpstreamResult, hasCredentials: boolean): string {
  switch (result.anonymousPullSource) {
    case 'chosen':
      return 'as asked';
    case 'kept':
      return 'it existed already and keeps its setting';
    case 'adopted':
      return 'it holds images already, which nobody made public';
    case 'default':
      if (result.anonymousPull) return 'the upstream has no credentials and Berth listens on loopback only';
      return hasCredentials ? 'the upstream has credentials: its images are what they may read' : 'Berth listens beyond loopback';
  }
}

/** What the namespace's anonymous pull is, why, and how to change it. */
function anonymousPullNote(name: string, result: AddUpstreamResult, hasCredentials: boolean): string {
  const flip = `berth namespace set ${name} --anonymous-pull=${result.anonymousPull ? 'false' : 'true'}`;
  const state = result.anonymousPull ? 'allows anonymous pulls' : `is private: pulls need an access token with "${name}/*:pull"`;
  return `Namespace "${name}" ${state} (${anonymousPullReason(result, hasCredentials)}). Change it with: ${flip}`;
}

async function list(command: Command): Promise<void> {
  const values = optionsOf<{ json?: boolean }>(command);
  const dataDir = dataDirOf(command);
  requireDataDir(dataDir);
  const store = await openState(dataDir, metadataOf(command));
  try {
    const { upstreams, namespaces } = store.read();
    const views = [...upstreams].sort((a, b) => a.name.localeCompare(b.name)).map((record) => viewOf(record, namespaces));
    if (values.json) {
      console.log(JSON.stringify(views, null, 2));
      return;
    }
    if (views.length === 0) {
      console.log('No upstreams yet. Add one with: berth upstream add hub https://registry-1.docker.io --default --alias docker.io');
      return;
    }
    const rows = views.map((view) => [
      view.name,
      view.url,
      view.aliases.join(',') || '-',
      view.default ? 'yes' : 'no',
      view.auth ? `yes (${view.username ?? ''})` : 'no',
      view.insecure ? 'yes' : 'no',
      formatSeconds(view.tagTtlSeconds),
      view.anonymousPull ? 'yes' : 'no',
      formatTime(view.createdAt),
    ]);
    console.log(formatTable(['NAME', 'URL', 'ALIASES', 'DEFAULT', 'AUTH', 'INSECURE', 'TAG TTL', 'ANONYMOUS PULL', 'CREATED'], rows));
  } finally {
    await store.close();
  }
}

async function remove(rawName: string, command: Command): Promise<void> {
  const name = checkName(rawName);
  const dataDir = dataDirOf(command);
  requireDataDir(dataDir);
  const store = await openState(dataDir, metadataOf(command));
  let result: RemoveUpstreamResult;
  try {
    result = await removeUpstream(store, name, { repositoriesHeld: storedRepositories(command, dataDir) });
  } catch (error) {
    throw asCliError(error);
  } finally {
    await store.close();
  }
  const { record: removed, cachedRepositories: cached = 0 } = result;
  await auditAdmin(dataDir, metadataOf(command), { action: 'upstream.remove', namespace: name, detail: { name, url: removed.url } });
  console.log(`Removed upstream "${name}"${removed.isDefault ? ' (it was the default upstream: no upstream is the default now)' : ''}.`);
  console.log(
    `Cached content is kept: ${cached} repositor${cached === 1 ? 'y' : 'ies'} under namespace "${name}" (still pullable; ` +
      `delete with the registry API, or stop anonymous pulls with "berth namespace set ${name} --anonymous-pull=false").`,
  );
}


interface SetOptions {
  url?: string;
  alias?: string[];
  default?: boolean;
  insecure?: boolean;
  caFile?: string | false;
  username?: string;
  passwordStdin?: boolean;
  credentials?: boolean;
  tagTtl?: string;
  anonymousPull?: boolean;
}

/** The flags of `upstream set` as a patch for the shared rules; nothing given is a usage mistake. */
async function patchOf(command: Command, values: SetOptions): Promise<UpstreamPatch> {
  const patch: UpstreamPatch = {};
  if (values.url !== undefined) patch.url = values.url;
  if (values.alias !== undefined) patch.aliases = values.alias;
  if (values.default !== undefined) patch.isDefault = values.default;
  if (values.insecure !== undefined) patch.insecure = values.insecure;
  if (values.tagTtl !== undefined) patch.tagTtlSeconds = parseTagTtl(values.tagTtl);
  if (values.anonymousPull !== undefined) patch.anonymousPull = values.anonymousPull;
  if (values.caFile === false) patch.caPem = null;
  else if (values.caFile !== undefined) patch.caPem = await readCaFile(values.caFile);
  const dropCredentials = values.credentials === false;
  if (dropCredentials && (values.username !== undefined || values.passwordStdin)) {
    failUsage(command, '--no-credentials removes the username and password: it cannot go with --username or --password-stdin');
  }
  if (values.username !== undefined && !values.passwordStdin) {
    failUsage(command, '--username needs --password-stdin (the password is read from standard input, never from the command line)');
  }
  if (dropCredentials) {
    patch.username = null;
    patch.password = null;
  }
  if (values.username !== undefined) patch.username = values.username;
  if (Object.keys(patch).length === 0 && !values.passwordStdin) {
    failUsage(command, 'nothing to change: give at least one option, e.g. --tag-ttl 10m or --url https://registry.example.com');
  }
  if (values.passwordStdin) patch.password = await readPasswordFromStdin();
  return patch;
}

/** What a change did, field by field, in the words of `upstream list`. */
function changeLines(before: UpstreamRecord, after: UpstreamRecord): string[] {
  const lines: string[] = [];
  const show = (label: string, from: string, to: string) => from !== to && lines.push(`  ${label}: ${from} -> ${to}`);
  show('URL', before.url, after.url);
  show('aliases', before.aliases.join(',') || '-', after.aliases.join(',') || '-');
  show('default', before.isDefault ? 'yes' : 'no', after.isDefault ? 'yes' : 'no');
  show('insecure', before.insecure ? 'yes' : 'no', after.insecure ? 'yes' : 'no');
  show('CA', before.caPem ? 'own CA' : 'system CAs', after.caPem ? (before.caPem && before.caPem !== after.caPem ? 'new CA' : 'own CA') : 'system CAs');
  show('tag TTL', formatSeconds(before.tagTtlSeconds), formatSeconds(after.tagTtlSeconds));
  show('username', before.username ?? '-', after.username ?? '-');
  if (before.passwordSealed !== after.passwordSealed) lines.push(`  password: ${after.passwordSealed ? (before.passwordSealed ? 'replaced' : 'set') : 'removed'}`);
  return lines;
}

async function set(rawName: string, command: Command): Promise<void> {
  const values = optionsOf<SetOptions>(command);
  const name = checkName(rawName);
  const patch = await patchOf(command, values);
  const dataDir = dataDirOf(command);
  requireDataDir(dataDir);
  const store = await openState(dataDir, metadataOf(command));
  let result: Awaited<ReturnType<typeof updateUpstream>>;
  try {
    const secrets = await openSecretBox(dataDir, metadataOf(command));
    result = await updateUpstream(store, name, patch, { sealSecret: (plain) => secrets.seal(plain) });
  } catch (error) {
    throw asCliError(error, { caFile: typeof values.caFile === 'string' ? values.caFile : undefined });
  } finally {
    await store.close();
  }
  const { record, previous, previousDefault, anonymousPull } = result;
  const fields = Object.keys(patch).filter((field) => field !== 'password');
  await auditAdmin(dataDir, metadataOf(command), { action: 'upstream.update', namespace: name, detail: { name, fields, passwordChanged: patch.password !== undefined } });
  if (patch.anonymousPull !== undefined) {
    await auditAdmin(dataDir, metadataOf(command), { action: 'namespace.update', namespace: name, detail: { anonymousPull, reason: 'upstream.update' } });
  }
  const lines = changeLines(previous, record);
  console.log(lines.length > 0 ? `Changed upstream "${name}":\n${lines.join('\n')}` : `Upstream "${name}" already had these settings.`);
  if (previousDefault) console.log(`"${name}" is now the default upstream (was "${previousDefault}").`);
  if (patch.anonymousPull !== undefined) {
    console.log(`Namespace "${name}" ${anonymousPull ? 'allows anonymous pulls' : `is private: pulls need an access token with "${name}/*:pull"`}.`);
  }
  console.log('A running Berth uses the new settings from its next request.');
}

async function test(rawName: string, command: Command): Promise<void> {
  const name = checkName(rawName);
  const dataDir = dataDirOf(command);
  requireDataDir(dataDir);
  // The box first: a missing master key must not leave the state store (a database connection) open.
  const secrets = await openSecretBox(dataDir, metadataOf(command));
  const store = await openState(dataDir, metadataOf(command));
  const pool = createUpstreamPool({ state: store, secrets, log: silentLogger() });
  try {
    const upstream = pool.get(name);
    if (!upstream) throw new Error(`no upstream "${name}": see "berth upstream list"`);
    const result = await testUpstream(upstream.record, upstream.client);
    if (!result.ok) throw new Error(`upstream "${name}" (${upstream.record.url}): ${result.message}`);
    console.log(`Upstream "${name}" (${upstream.record.url}): ${result.message} (${result.latencyMs} ms).`);
  } finally {
    pool.close();
    await store.close();
  }
}

export function registerUpstreamCommands(program: Command): void {
  const upstream = group(
    program,
    'upstream',
    'add, list and remove upstream registries to mirror; test and change them',
    'Upstream registries that Berth mirrors (pull-through cache). NAME is also the local namespace the upstream\'s ' +
      'images appear under: after "berth upstream add hub https://registry-1.docker.io --default", ' +
      '"docker pull 127.0.0.1:5000/hub/library/redis:7" pulls library/redis:7 through Berth. Docker\'s ' +
      'registry-mirrors, containerd\'s hosts.toml and podman\'s registries.conf reach it too ("berth mirror-config").',
  );
  upstream.addHelpText('after', `
Examples:
  berth upstream add hub https://registry-1.docker.io --alias docker.io --default
  echo "$TOKEN" | berth upstream add work https://registry.example.com --username me --password-stdin
  berth upstream set hub --tag-ttl 1h
  berth upstream test hub`);
  const nameArgument = 'the upstream NAME, also its local namespace (hub, ghcr)';
  const anonymousPull = 'whether anyone may pull from namespace NAME without a token';
  leaf(upstream, 'add', 'NAME URL [--default] [--alias HOST]... [--insecure] [--ca-file PEM] [--username USER --password-stdin] [--tag-ttl DURATION] [--anonymous-pull=true|false] [--adopt]', 'starts mirroring an upstream registry')
    .argument('<NAME>', nameArgument)
    .argument('<URL>', "the upstream URL, the registry's address such as https://registry-1.docker.io")
    .option('--default', "also serve pulls of names that are not a local namespace (Docker's registry-mirrors); only one upstream is the default")
    .option('--alias <HOST>', 'another host name clients use for it, e.g. docker.io (repeatable)', repeatable)
    .option('--insecure', 'skip TLS verification (loopback upstreams only)')
    .option('--ca-file <PEM>', 'a CA certificate to trust for this upstream')
    .option('--username <USER>', 'a user name for the upstream; its password comes from --password-stdin')
    .option('--password-stdin', 'read the password from standard input; it is kept encrypted in the data directory, never printed')
    .option('--tag-ttl <DURATION>', 'how long a tag resolved upstream is trusted before asking again (default 5m; 0 asks every time)')
    .option(
      '--anonymous-pull <BOOL>',
      `${anonymousPull}. Default: true only for an upstream without credentials on a Berth that listens on loopback only; false otherwise. An existing namespace keeps its setting unless this is given`,
      booleanValue('--anonymous-pull'),
    )
    .option('--adopt', 'use NAME even though the namespace already holds images (for instance the cache an earlier "berth upstream remove" kept)')
    .action((name: string, url: string, _options, command: Command) => add(name, url, command));
  leaf(upstream, 'list', '[--json]', 'every upstream: name, URL, aliases, default, credentials yes/no, insecure, tag TTL, anonymous pull (never the password)')
    .addOption(jsonOption())
    .action((_options, command: Command) => list(command));
  leaf(
    upstream,
    'set',
    'NAME [--url URL] [--alias HOST]... [--default|--no-default] [--insecure|--no-insecure] [--ca-file PEM|--no-ca-file] [--username USER --password-stdin|--no-credentials] [--tag-ttl DURATION] [--anonymous-pull=true|false]',
    'changes an upstream in place (not its name: that is its namespace, holding its cache); what is not given stays',
  )
    .argument('<NAME>', nameArgument)
    .option('--url <URL>', "the registry's new address")
    .option('--alias <HOST>', "the host names clients use for it; replaces the aliases (repeatable; --alias '' removes them all)", repeatable)
    .option('--default', 'make it the default upstream')
    .option('--no-default', 'stop it being the default upstream')
    .option('--insecure', 'skip TLS verification (loopback upstreams only)')
    .option('--no-insecure', 'verify TLS again')
    .option('--ca-file <PEM>', 'a CA certificate to trust for this upstream')
    .option('--no-ca-file', 'trust the system CAs only')
    .option('--username <USER>', 'new credentials: the user name, with --password-stdin')
    .option('--password-stdin', 'read the (new) password from standard input')
    .option('--no-credentials', 'pull anonymously: removes the username and password')
    .option('--tag-ttl <DURATION>', 'how long a tag resolved upstream is trusted (0 asks every time)')
    .option('--anonymous-pull <BOOL>', anonymousPull, booleanValue('--anonymous-pull'))
    .action((name: string, _options, command: Command) => set(name, command));
  leaf(upstream, 'test', 'NAME', 'contacts the upstream as a pull would and says whether it is reachable and takes the credentials; exit 1 when not')
    .argument('<NAME>', nameArgument)
    .action((name: string, _options, command: Command) => test(name, command));
  leaf(upstream, 'remove', 'NAME', 'stops mirroring; images already cached under NAME are kept')
    .alias('rm')
    .argument('<NAME>', nameArgument)
    .action((name: string, _options, command: Command) => remove(name, command));
}
