import { isIP } from 'node:net';
import { UpstreamConfigError } from './errors.js';

/** One upstream registry, as kept in the state file. */
export interface Upstream {
  /** Unique, human-chosen name ('hub', 'ghcr'): shown in logs, errors and the GUI. */
  name: string;
  /** Base URL, scheme and host (and port), e.g. 'https://registry-1.docker.io'. */
  url: string;
  /** Other host names this registry is known by, e.g. 'docker.io' (used to map image references). */
  aliases?: string[];
  username?: string;
  /** Plain text: the caller decrypts it before handing the upstream to the client. */
  password?: string;
  /** Extra CA certificate(s), PEM, trusted in addition to the system roots. */
  caPem?: string;
  /** Skip TLS verification. Allowed only for loopback hosts (a local test registry with a self-made certificate). */
  insecure?: boolean;
}

const dockerHubHosts = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/** 127.0.0.0/8, ::1 and localhost: hosts where a man in the middle would already own the machine. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(host);
  return false;
}

/**
 * Checks an upstream before use and returns its parsed base URL. Refuses what
 * would be unsafe rather than warning: `insecure` towards a non-loopback host, and credentials over plain HTTP
 * to a non-loopback host (they would cross the network in clear text).
 */
export function validateUpstream(upstream: Upstream): URL {
  const name = upstream.name;
  if (typeof name !== 'string' || name.trim() === '') throw new UpstreamConfigError(String(name), 'the name must not be empty');
  let url: URL;
  try {
    url = new URL(upstream.url);
  } catch {
    throw new UpstreamConfigError(name, `not a URL: ${String(upstream.url).slice(0, 200)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UpstreamConfigError(name, `the URL must start with https:// or http:// (got ${url.protocol})`);
  }
  if (url.username || url.password) throw new UpstreamConfigError(name, 'put credentials in username/password, not in the URL');
  if (url.search || url.hash) throw new UpstreamConfigError(name, 'the URL must not have a query or fragment');
  const loopback = isLoopbackHost(url.hostname);
  if (upstream.insecure === true && !loopback) {
    throw new UpstreamConfigError(
      name,
      `insecure (skip TLS verification) is allowed only for loopback hosts, not ${url.hostname}: ` +
        "add the registry's CA certificate (caPem) instead",
    );
  }
  const hasCredentials = upstream.username !== undefined || upstream.password !== undefined;
  if (hasCredentials && url.protocol === 'http:' && !loopback) {
    throw new UpstreamConfigError(name, `refusing to send credentials over plain HTTP to ${url.hostname}: use https://`);
  }
  if ((upstream.username === undefined) !== (upstream.password === undefined)) {
    throw new UpstreamConfigError(name, 'set both username and password, or neither');
  }
  return url;
}

/** Whether the upstream is Docker Hub (by its URL host or one of its aliases). */
export function isDockerHub(upstream: Upstream): boolean {
  const hosts = [safeHostname(upstream.url), ...(upstream.aliases ?? [])];
  return hosts.some((host) => host !== undefined && dockerHubHosts.has(host.toLowerCase()));
}

function safeHostname(value: string): string | undefined {
  try {
    return new URL(value).hostname;
  } catch {
    return undefined;
  }
}

/**
 * The repository name to ask the upstream for. Docker Hub keeps official images under `library/`, and clients
 * let users omit it (`redis` means `library/redis`).
 */
export function upstreamRepository(upstream: Upstream, repository: string): string {
  return isDockerHub(upstream) && !repository.includes('/') ? `library/${repository}` : repository;
}
