import { isLoopback, parseListenAddress } from '../../config/listen-address.js';
import { isDockerHub } from '../../mirror/upstream.js';
import type { UpstreamRecord } from '../../state/index.js';
import { CliUsageError } from '../cli-error.js';
import type { Command } from 'commander';
import { dataDirOf, metadataOf, openState, requireDataDir } from '../admin-support.js';
import { leaf, optionsOf } from '../command-kit.js';
import { notRunningNote, serverAddresses } from '../server-address.js';

const dockerHubHosts = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/** Where clients reach Berth: `http://127.0.0.1:5000` style, and the bare `host:port`. */
export interface MirrorEndpoint {
  scheme: 'http' | 'https';
  host: string;
}

/**
 * The endpoint from `--host`, else from the server's addresses (the running server's, or the settings'): plain HTTP
 * when it listens on loopback (Docker and containerd allow that without TLS), else HTTPS.
 */
export function mirrorEndpoint(addresses: { http?: string; https?: string }, hostFlag?: string): MirrorEndpoint {
  if (hostFlag !== undefined) {
    const parsed = parseHost(hostFlag);
    return { scheme: isLoopback(parsed.host) ? 'http' : 'https', host: hostFlag.trim() };
  }
  const plain = addresses.http !== undefined ? new URL(addresses.http) : undefined;
  if (plain && isLoopback(unbracket(plain.hostname))) return { scheme: 'http', host: plain.host };
  if (addresses.https !== undefined) return { scheme: 'https', host: new URL(addresses.https).host };
  if (plain) return { scheme: 'http', host: plain.host };
  throw new Error('the server has no listener: see "berth status"');
}

function unbracket(host: string): string {
  return host.startsWith('[') ? host.slice(1, -1) : host;
}

function parseHost(value: string): { host: string; port: number } {
  try {
    return parseListenAddress(value);
  } catch {
    throw new CliUsageError(`invalid --host "${value.slice(0, 80)}": expected HOST:PORT, e.g. 127.0.0.1:5000 or registry.lan:5443`);
  }
}

/** The host names clients write in image references for this upstream (`docker.io` for Docker Hub). */
export function clientHosts(record: Pick<UpstreamRecord, 'name' | 'url' | 'aliases'>): string[] {
  const hub = isDockerHub({ name: record.name, url: record.url, aliases: record.aliases });
  const hosts = hub ? ['docker.io'] : [new URL(record.url).host.toLowerCase()];
  for (const alias of record.aliases) if (!(hub && dockerHubHosts.has(alias))) hosts.push(alias);
  return [...new Set(hosts)];
}

function containerdServer(record: UpstreamRecord): string {
  return isDockerHub({ name: record.name, url: record.url, aliases: record.aliases }) ? 'https://registry-1.docker.io' : record.url;
}

/** Docker's daemon.json: only the default upstream is reachable this way, and only for Docker Hub names. */
export function dockerDaemonSnippet(endpoint: MirrorEndpoint, upstreams: readonly UpstreamRecord[]): string {
  const lines = ['# /etc/docker/daemon.json (then restart dockerd)'];
  const fallback = upstreams.find((upstream) => upstream.isDefault);
  lines.push('# dockerd uses registry-mirrors for Docker Hub images only; pull other upstreams by path:');
  lines.push(`#   docker pull ${endpoint.host}/UPSTREAM/REPOSITORY:TAG`);
  if (!fallback) lines.push('# No upstream is the default yet: add one with --default, or the mirror answers "not found".');
  else if (!isDockerHub(fallback)) lines.push(`# Warning: the default upstream "${fallback.name}" is not Docker Hub, yet dockerd sends it Docker Hub names.`);
  const daemon: Record<string, string[]> = { 'registry-mirrors': [`${endpoint.scheme}://${endpoint.host}`] };
  // dockerd allows plain HTTP to loopback on its own; anything else must be declared insecure.
  if (endpoint.scheme === 'http' && !isLoopback(parseHost(endpoint.host).host)) daemon['insecure-registries'] = [endpoint.host];
  lines.push(JSON.stringify(daemon, null, 2));
  return lines.join('\n');
}

/** One hosts.toml per upstream host: containerd tries Berth first and adds `?ns=HOST`, which routes to the upstream. */
export function containerdSnippets(endpoint: MirrorEndpoint, upstreams: readonly UpstreamRecord[]): string {
  const blocks: string[] = [
    [
      '# containerd (and nerdctl, k3s, kind): point config.toml at the hosts directory once:',
      '#   [plugins."io.containerd.grpc.v1.cri".registry]',
      '#     config_path = "/etc/containerd/certs.d"',
    ].join('\n'),
  ];
  for (const record of upstreams) {
    for (const host of clientHosts(record)) {
      const lines = [`# /etc/containerd/certs.d/${host}/hosts.toml   (upstream "${record.name}")`, `server = "${containerdServer(record)}"`, ''];
      lines.push(`[host."${endpoint.scheme}://${endpoint.host}"]`, '  capabilities = ["pull", "resolve"]');
      if (endpoint.scheme === 'https') lines.push(`  ca = "/etc/containerd/certs.d/${host}/berth-ca.crt"   # berth ca export --out this-file`);
      blocks.push(lines.join('\n'));
    }
  }
  if (upstreams.length === 0) blocks.push('# (no upstreams yet: "berth upstream add" first)');
  return blocks.join('\n\n');
}

/** registries.conf: a mirror entry per upstream host, at Berth's path-prefix namespace for that upstream. */
export function podmanSnippet(endpoint: MirrorEndpoint, upstreams: readonly UpstreamRecord[]): string {
  const lines = ['# /etc/containers/registries.conf (podman, buildah, skopeo, CRI-O)'];
  if (endpoint.scheme === 'https') lines.push(`# Trust Berth's CA: berth ca export --out /etc/containers/certs.d/${endpoint.host}/ca.crt`);
  for (const record of upstreams) {
    for (const host of clientHosts(record)) {
      lines.push('', '[[registry]]', `prefix = "${host}"`, `location = "${host}"`, '', '[[registry.mirror]]', `location = "${endpoint.host}/${record.name}"`);
      if (endpoint.scheme === 'http') lines.push('insecure = true');
    }
  }
  if (upstreams.length === 0) lines.push('# (no upstreams yet: "berth upstream add" first)');
  return lines.join('\n');
}

async function mirrorConfig(command: Command): Promise<void> {
  const values = optionsOf<{ host?: string }>(command);
  const dataDir = dataDirOf(command);
  requireDataDir(dataDir);
  const store = await openState(dataDir, metadataOf(command));
  let upstreams: UpstreamRecord[];
  try {
    upstreams = [...store.read().upstreams].sort((a, b) => Number(b.isDefault) - Number(a.isDefault) || a.name.localeCompare(b.name));
  } finally {
    await store.close();
  }
  const addresses = await serverAddresses(dataDir);
  // Pasted into daemon.json, an address nothing listens on makes dockerd fall back to Docker Hub without a word.
  if (!addresses.running && values.host === undefined) console.error(`berth: note: ${notRunningNote(dataDir)}`);
  const endpoint = mirrorEndpoint(addresses, values.host);
  const summary = upstreams.length
    ? upstreams.map((u) => `${u.name} (${u.url}${u.isDefault ? ', default' : ''})`).join(', ')
    : 'none yet: berth upstream add hub https://registry-1.docker.io --default --alias docker.io';
  console.log(
    [
      `# Berth pull-through mirror at ${endpoint.scheme}://${endpoint.host}`,
      `# Upstreams: ${summary}`,
      '',
      '## Docker',
      dockerDaemonSnippet(endpoint, upstreams),
      '',
      '## containerd',
      containerdSnippets(endpoint, upstreams),
      '',
      '## podman',
      podmanSnippet(endpoint, upstreams),
    ].join('\n'),
  );
}

export function registerMirrorConfigCommand(program: Command): void {
  leaf(
    program,
    'mirror-config',
    '[--host HOST:PORT]',
    `Prints ready-to-paste client configuration for Berth's pull-through mirror, built from Berth's listen
addresses and the configured upstreams ("berth upstream add"):
  Docker      /etc/docker/daemon.json            registry-mirrors (Docker mirrors only Docker Hub this way)
  containerd  /etc/containerd/certs.d/HOST/hosts.toml   one file per upstream host; containerd then
                                                 tells Berth the host with ?ns=HOST
  podman      /etc/containers/registries.conf    [[registry.mirror]] at HOST:PORT/UPSTREAM (also buildah, skopeo)`,
  )
    .summary('print Docker, containerd and podman settings for the mirror')
    .option(
      '--host <HOST:PORT>',
      "the address clients reach Berth at (default: the running server's plain-HTTP listener on loopback, else its HTTPS one; with no server running, the settings'); a non-loopback host is taken to be HTTPS",
    )
    .action((_options, command: Command) => mirrorConfig(command));
}
