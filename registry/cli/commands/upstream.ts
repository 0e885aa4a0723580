import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSecretBox } from '../../auth/secret-box.js';
import { defaultDataDir } from '../../config/data-dir.js';
import { DurationError, parseDuration } from '../../core/duration.js';
import { isRepositoryName } from '../../core/names.js';
import { isDockerHub, validateUpstream } from '../../mirror/upstream.js';
import type { UpstreamRecord } from '../../state/index.js';
import { CliUsageError } from '../cli-error.js';
import { auditAdmin, dataDirOf, formatTable, formatTime, openState, parseCommandArgs, requireDataDir } from '../admin-support.js';

export const upstreamUsage = `berth upstream add NAME URL [--default] [--alias HOST]... [--insecure] [--ca-file PEM]
                   [--username USER --password-stdin] [--tag-ttl DURATION] [--adopt] [--data DIR]
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
           --adopt           use NAME even though the namespace already holds images (for instance the
                             cache that an earlier "berth upstream remove" kept)
           The namespace NAME allows anonymous pulls (dockerd sends Docker Hub credentials to mirrors);
           change it with "berth namespace set NAME --anonymous-pull=false".
  list     every upstream: name, URL, aliases, default, credentials yes/no, insecure (never the password)
           --json  a JSON array instead of the table
  remove   stops mirroring; images already cached under NAME are kept

  --data DIR  data directory (default: ${defaultDataDir()}); works while "berth serve" runs on it`;

/** Same default as the admin API. */
const defaultTagTtlSeconds = 300;
const maxTagTtlSeconds = 7 * 24 * 60 * 60;
const aliasGrammar = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$/;

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
  createdAt: string;
}

function viewOf(record: UpstreamRecord): UpstreamView {
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
    createdAt: record.createdAt,
  };
}

/** The upstream's name is its pull-through namespace, so it follows the namespace grammar. */
function checkName(name: string | undefined, sub: string): string {
  if (!name) throw new CliUsageError(`missing the upstream NAME: berth upstream ${sub} NAME${sub === 'add' ? ' URL' : ''}`);
  if (name.includes('/') || !isRepositoryName(name)) {
    throw new CliUsageError(`invalid upstream name "${name.slice(0, 80)}": one lowercase name component such as hub or ghcr (a-z 0-9 . _ -)`);
  }
  return name;
}

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
  const seconds = Math.round(ms / 1000);
  if (seconds > maxTagTtlSeconds) throw new CliUsageError(`--tag-ttl ${text} is longer than the maximum of 7d`);
  return seconds;
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

/** Repositories already stored under a namespace (storage layout: `<data>/repositories/<namespace>/...`). */
async function storedRepositories(dataDir: string, namespace: string): Promise<number> {
  try {
    const entries = await readdir(join(dataDir, 'repositories', namespace));
    // `<namespace>/_manifests` means a one-component repository named like the namespace itself.
    return entries.filter((entry) => !entry.startsWith('_')).length + (entries.includes('_manifests') ? 1 : 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
}

/** Host names a record answers to, for the alias clash check (same idea as the pool's `byHost`). */
function hostsOf(record: Pick<UpstreamRecord, 'url' | 'aliases'>): string[] {
  const url = new URL(record.url);
  return [url.host.toLowerCase(), ...record.aliases];
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
  const aliases = [...new Set((values.alias ?? []).map((alias) => alias.trim().toLowerCase()).filter(Boolean))];
  for (const alias of aliases) {
    if (!aliasGrammar.test(alias)) throw new CliUsageError(`invalid --alias "${alias.slice(0, 80)}": a host name (and port), e.g. docker.io`);
  }
  const tagTtlSeconds = parseTagTtl(values['tag-ttl']);
  let caPem: string | undefined;
  if (values['ca-file'] !== undefined) {
    caPem = await readFile(values['ca-file'], 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new Error(`cannot read --ca-file ${values['ca-file']}: ${error.code ?? error.message}`);
    });
    if (!caPem.includes('-----BEGIN CERTIFICATE-----')) throw new CliUsageError(`--ca-file ${values['ca-file']} is not a PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
  const password = values['password-stdin'] ? await readPasswordFromStdin() : undefined;
  const url = rawUrl.trim().replace(/\/+$/, '');
  try {
    validateUpstream({ name, url, aliases, username: values.username, password, caPem, insecure: values.insecure });
  } catch (error) {
    throw new CliUsageError((error as Error).message);
  }

  const dataDir = dataDirOf(values);
  const store = await openState(dataDir);
  const secrets = await createSecretBox(dataDir);
  const record: UpstreamRecord = {
    name,
    url,
    aliases,
    isDefault: values.default === true,
    ...(values.username !== undefined ? { username: values.username } : {}),
    // Sealed before it touches the state file; the plain text is never written or printed.
    ...(password !== undefined ? { passwordSealed: secrets.seal(password) } : {}),
    ...(caPem !== undefined ? { caPem } : {}),
    insecure: values.insecure === true,
    tagTtlSeconds,
    createdAt: new Date().toISOString(),
  };
  const repositoriesHeld = values.adopt ? 0 : await storedRepositories(dataDir, name);
  let previousDefault: string | undefined;
  let namespaceCreated = false;
  try {
    await store.update((draft) => {
      // Checked under the lock, so two concurrent adds cannot both succeed.
      if (draft.upstreams.some((upstream) => upstream.name === name)) {
        throw new Error(`an upstream named "${name}" already exists: see "berth upstream list", or remove it first with "berth upstream remove ${name}"`);
      }
      if (repositoriesHeld > 0) {
        throw new Error(
          `namespace "${name}" already holds ${repositoriesHeld} local repositor${repositoriesHeld === 1 ? 'y' : 'ies'}: ` +
            'a pull-through namespace is read-only, so pick another upstream name ' +
            `(or pass --adopt if that content is an earlier cache of this upstream)`,
        );
      }
      const mine = new Set(hostsOf(record));
      for (const other of draft.upstreams) {
        const clash = hostsOf(other).find((host) => mine.has(host));
        if (clash) throw new Error(`host "${clash}" already routes to upstream "${other.name}": one host, one upstream`);
      }
      if (record.isDefault) {
        for (const upstream of draft.upstreams) {
          if (!upstream.isDefault) continue;
          previousDefault = upstream.name;
          upstream.isDefault = false;
        }
      }
      draft.upstreams.push(record);
      // dockerd sends its Docker Hub credentials to mirrors, which Berth cannot check: mirrored content is public.
      const namespace = draft.namespaces.find((ns) => ns.name === name);
      if (namespace) namespace.anonymousPull = true;
      else {
        namespaceCreated = true;
        draft.namespaces.push({ name, anonymousPull: true, createdAt: record.createdAt });
      }
    });
  } finally {
    await store.close();
  }
  await auditAdmin(dataDir, {
    action: 'upstream.add',
    namespace: name,
    detail: { name, url, aliases, isDefault: record.isDefault, auth: password !== undefined, insecure: record.insecure, tagTtlSeconds, previousDefault: previousDefault ?? null },
  });
  if (namespaceCreated) await auditAdmin(dataDir, { action: 'namespace.create', namespace: name, detail: { anonymousPull: true, reason: 'upstream.add' } });

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
  console.log(`Namespace "${name}" allows anonymous pulls; pushes to it are refused. Client setup: berth mirror-config`);
}

async function list(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(argv, { data: { type: 'string' }, json: { type: 'boolean', default: false } }, 'berth upstream');
  if (positionals.length > 0) throw new CliUsageError(`unexpected argument "${positionals[0]}": "berth upstream list" takes no names`);
  const dataDir = dataDirOf(values);
  requireDataDir(dataDir);
  const store = await openState(dataDir);
  try {
    const views = [...store.read().upstreams].sort((a, b) => a.name.localeCompare(b.name)).map(viewOf);
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
      formatTime(view.createdAt),
    ]);
    console.log(formatTable(['NAME', 'URL', 'ALIASES', 'DEFAULT', 'AUTH', 'INSECURE', 'TAG TTL', 'CREATED'], rows));
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
  let removed: UpstreamRecord | undefined;
  try {
    await store.update((draft) => {
      const index = draft.upstreams.findIndex((upstream) => upstream.name === name);
      if (index === -1) throw new Error(`no upstream "${name}": see "berth upstream list"`);
      const users = draft.syncRules.filter((rule) => rule.upstream === name).map((rule) => rule.name);
      if (users.length > 0) throw new Error(`sync rules use upstream "${name}": ${users.slice(0, 10).join(', ')}; delete them first`);
      removed = { ...draft.upstreams[index] } as UpstreamRecord;
      draft.upstreams.splice(index, 1);
    });
  } finally {
    await store.close();
  }
  await auditAdmin(dataDir, { action: 'upstream.remove', namespace: name, detail: { name, url: removed?.url ?? null } });
  const cached = await storedRepositories(dataDir, name);
  console.log(`Removed upstream "${name}"${removed?.isDefault ? ' (it was the default upstream: no upstream is the default now)' : ''}.`);
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
