import { readFile } from 'node:fs/promises';
import { createSecretBox } from '../../auth/secret-box.js';
import { defaultDataDir } from '../../config/data-dir.js';
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
  type AddUpstreamResult,
  type RemoveUpstreamResult,
  type RepositoryCounter,
  type UpstreamInput,
} from '../../mirror/upstream-changes.js';
import { isDockerHub } from '../../mirror/upstream.js';
import type { NamespaceRecord, UpstreamRecord } from '../../state/index.js';
import { walkRepositories } from '../../storage/repository-walk.js';
import { createFilesystemDriver } from '../../storage/filesystem-driver.js';
import { CliUsageError } from '../cli-error.js';
import { auditAdmin, dataDirOf, formatTable, formatTime, openState, parseAnonymousPull, parseCommandArgs, requireDataDir } from '../admin-support.js';
import { reachableFromLoopbackOnly } from '../server-address.js';

export const upstreamUsage = `berth upstream add NAME URL [--default] [--alias HOST]... [--insecure] [--ca-file PEM]
                   [--username USER --password-stdin] [--tag-ttl DURATION] [--anonymous-pull=true|false]
                   [--adopt] [--data DIR]
berth upstream list [--json] [--data DIR]
berth upstream remove NAME [--data DIR]

Upstream registries that Berth mirrors (pull-through cache). NAME is also the local namespace the
upstream's images appear under: with "berth upstream add hub https://registry-1.docker.io --default",
  docker pull 127.0.0.1:5000/hub/library/redis:7     pulls library/redis:7 through Berth (path prefix)
and Docker's registry-mirrors, containerd's hosts.toml and podman's registries.conf also reach it
("berth mirror-config" prints those snippets).
  add      --default         also serve pulls of names that are not a local namespace (Docker's
                             registry-mirrors); only one upstream is the default
           --alias HOST      another host name clients use for it, e.g. docker.io (repeatable)
           --insecure        skip TLS verification (loopback upstreams only)
           --ca-file PEM     a CA certificate to trust for this upstream
           --username USER --password-stdin
                             credentials for the upstream; the password is read from standard input and
                             kept encrypted in the data directory, never printed
           --tag-ttl DUR     how long a tag resolved upstream is trusted before asking again (default 5m;
                             0 asks every time)
           --anonymous-pull=true|false
                             whether anyone may pull from namespace NAME without a token. Default: true
                             only for an upstream without credentials on a Berth that listens on loopback
                             only (what Docker's registry-mirrors needs: dockerd sends mirrors no
                             credentials Berth can check); false otherwise. An existing namespace keeps
                             its setting unless this flag is given
           --adopt           use NAME even though the namespace already holds images (for instance the
                             cache that an earlier "berth upstream remove" kept)
  list     every upstream: name, URL, aliases, default, credentials yes/no, insecure, anonymous pull
           (never the password)
           --json  a JSON array instead of the table
  remove   stops mirroring; images already cached under NAME are kept

  --data DIR  data directory (default: ${defaultDataDir()}); works while "berth serve" runs on it`;

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
function checkName(name: string | undefined, sub: string): string {
  if (!name) throw new CliUsageError(`missing the upstream NAME: berth upstream ${sub} NAME${sub === 'add' ? ' URL' : ''}`);
  try {
    return checkUpstreamName(name);
  } catch (error) {
    throw asCliError(error);
  }
}

/** A duration such as 10m; its range is the shared rules' to check. */
function parseTagTtl(text: string | undefined): number {
  if (text === undefined) return defaultTagTtlSeconds;
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
  if (process.stdin.isTTY) throw new CliUsageError('--password-stdin reads the password from standard input: pipe it in, e.g. printf %s "$PASS" | berth upstream add ...');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk);
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (password === '') throw new CliUsageError('--password-stdin: standard input was empty');
  return password;
}

/** Repositories stored under a namespace, read from the data directory the way the registry walks it. */
function storedRepositories(dataDir: string): RepositoryCounter {
  return repositoryCounter(() => walkRepositories(createFilesystemDriver(dataDir)));
}

async function add(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(
    argv,
    {
      default: { type: 'boolean', default: false },
      alias: { type: 'string', multiple: true },
      insecure: { type: 'boolean', default: false },
      'ca-file': { type: 'string' },
      username: { type: 'string' },
      'password-stdin': { type: 'boolean', default: false },
      'tag-ttl': { type: 'string' },
      'anonymous-pull': { type: 'string' },
      adopt: { type: 'boolean', default: false },
      data: { type: 'string' },
    },
    'berth upstream',
  );
  const [rawName, rawUrl, ...extra] = positionals;
  const name = checkName(rawName, 'add');
  if (!rawUrl) throw new CliUsageError(`missing the upstream URL: berth upstream add ${name} https://registry.example.com`);
  if (extra.length > 0) throw new CliUsageError(`unexpected argument "${extra[0]}": berth upstream add NAME URL [options]`);
  if (values.username !== undefined && !values['password-stdin']) {
    throw new CliUsageError('--username needs --password-stdin (the password is read from standard input, never from the command line)');
  }
  if (values['password-stdin'] && values.username === undefined) throw new CliUsageError('--password-stdin needs --username USER');
  const tagTtlSeconds = parseTagTtl(values['tag-ttl']);
  const anonymousPull = values['anonymous-pull'] === undefined ? undefined : parseAnonymousPull(values['anonymous-pull']);
  let caPem: string | undefined;
  if (values['ca-file'] !== undefined) {
    caPem = await readFile(values['ca-file'], 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new Error(`cannot read --ca-file ${values['ca-file']}: ${error.code ?? error.message}`);
    });
  }
  const password = values['password-stdin'] ? await readPasswordFromStdin() : undefined;

  const input: UpstreamInput = {
    name,
    url: rawUrl,
    aliases: values.alias ?? [],
    isDefault: values.default,
    username: values.username,
    password,
    caPem,
    insecure: values.insecure,
    tagTtlSeconds,
    ...(anonymousPull !== undefined ? { anonymousPull } : {}),
  };
  try {
    // A mistyped command must not leave a new data directory behind: check before opening it.
    checkUpstreamInput(input);
  } catch (error) {
    throw asCliError(error, { caFile: values['ca-file'] });
  }

  const dataDir = dataDirOf(values);
  const store = await openState(dataDir);
  let result: AddUpstreamResult;
  try {
    const secrets = await createSecretBox(dataDir);
    const sealSecret = (plain: string) => secrets.seal(plain);
    // What the settings say: flags of a running `berth serve` are not known here, so a server started with a
    // network --listen should be told apart by persisting it (Settings) or by passing --anonymous-pull.
    const loopbackOnly = await reachableFromLoopbackOnly(dataDir, listensOnLoopbackOnly(store.read().settings));
    result = await addUpstream(store, input, { sealSecret, loopbackOnly, repositoriesHeld: storedRepositories(dataDir), adopt: values.adopt });
  } catch (error) {
    throw asCliError(error, { caFile: values['ca-file'] });
  } finally {
    await store.close();
  }
  const { record, previousDefault, namespaceCreated, anonymousPullSource } = result;
  const { url, aliases } = record;
  await auditAdmin(dataDir, {
    action: 'upstream.add',
    namespace: name,
    detail: { name, url, aliases, isDefault: record.isDefault, auth: password !== undefined, insecure: record.insecure, tagTtlSeconds: record.tagTtlSeconds, previousDefault: previousDefault ?? null },
  });
  if (namespaceCreated) {
    await auditAdmin(dataDir, { action: 'namespace.create', namespace: name, detail: { anonymousPull: result.anonymousPull, reason: 'upstream.add', source: anonymousPullSource } });
  } else if (anonymousPullSource === 'chosen') {
    await auditAdmin(dataDir, { action: 'namespace.update', namespace: name, detail: { anonymousPull: result.anonymousPull, reason: 'upstream.add' } });
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

async function list(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(argv, { data: { type: 'string' }, json: { type: 'boolean', default: false } }, 'berth upstream');
  if (positionals.length > 0) throw new CliUsageError(`unexpected argument "${positionals[0]}": "berth upstream list" takes no names`);
  const dataDir = dataDirOf(values);
  requireDataDir(dataDir);
  const store = await openState(dataDir);
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
      `${view.tagTtlSeconds}s`,
      view.anonymousPull ? 'yes' : 'no',
      formatTime(view.createdAt),
    ]);
    console.log(formatTable(['NAME', 'URL', 'ALIASES', 'DEFAULT', 'AUTH', 'INSECURE', 'TAG TTL', 'ANONYMOUS PULL', 'CREATED'], rows));
  } finally {
    await store.close();
  }
}

async function remove(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(argv, { data: { type: 'string' } }, 'berth upstream');
  const name = checkName(positionals[0], 'remove');
  if (positionals.length > 1) throw new CliUsageError(`remove one upstream at a time (unexpected "${positionals[1]}")`);
  const dataDir = dataDirOf(values);
  requireDataDir(dataDir);
  const store = await openState(dataDir);
  let result: RemoveUpstreamResult;
  try {
    result = await removeUpstream(store, name, { repositoriesHeld: storedRepositories(dataDir) });
  } catch (error) {
    throw asCliError(error);
  } finally {
    await store.close();
  }
  const { record: removed, cachedRepositories: cached = 0 } = result;
  await auditAdmin(dataDir, { action: 'upstream.remove', namespace: name, detail: { name, url: removed.url } });
  console.log(`Removed upstream "${name}"${removed.isDefault ? ' (it was the default upstream: no upstream is the default now)' : ''}.`);
  console.log(
    `Cached content is kept: ${cached} repositor${cached === 1 ? 'y' : 'ies'} under namespace "${name}" (still pullable; ` +
      `delete with the registry API, or stop anonymous pulls with "berth namespace set ${name} --anonymous-pull=false").`,
  );
}

const subcommands: Record<string, (argv: string[]) => Promise<void>> = { add, list, remove, rm: remove };

export async function upstreamCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const run = sub === undefined ? undefined : subcommands[sub];
  if (!run) throw new CliUsageError(`${sub ? `unknown upstream command "${sub}"` : 'missing upstream command'}: use add, list or remove\n\n${upstreamUsage}`);
  await run(rest);
}
