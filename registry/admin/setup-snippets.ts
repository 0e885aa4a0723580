import type { ListenerInfo, SetupSnippets } from './contract.js';
import { registryHostOf } from './views.js';

/** Copy-paste client setup built from the real listener URLs (what the overview page shows). */
export function setupSnippets(urls: ListenerInfo): SetupSnippets {
  const host = registryHostOf(urls) ?? '127.0.0.1:5000';
  const plain = urls.http !== undefined && registryHostOf({ http: urls.http }) === host;
  const scheme = plain ? 'http' : 'https';
  const hostsToml = [
    `# /etc/containerd/certs.d/${host}/hosts.toml`,
    `server = "${scheme}://${host}"`,
    '',
    `[host."${scheme}://${host}"]`,
    '  capabilities = ["pull", "resolve", "push"]',
    ...(plain ? ['  skip_verify = true'] : []),
  ].join('\n');
  const daemon: Record<string, string[]> = { 'registry-mirrors': [`${scheme}://${host}`] };
  // Docker allows plain HTTP to 127.0.0.0/8 already; anything else must be listed to be reachable over HTTP.
  if (plain && !/^(127\.|localhost|\[::1\])/.test(host)) daemon['insecure-registries'] = [host];
  return {
    dockerLogin: `docker login ${host} -u TOKEN_NAME`,
    podmanLogin: `podman login ${plain ? '--tls-verify=false ' : ''}${host} -u TOKEN_NAME`,
    containerdHostsToml: hostsToml,
    dockerDaemonJson: JSON.stringify(daemon, null, 2),
    pushExample: `docker tag alpine:3 ${host}/team/alpine:3 && docker push ${host}/team/alpine:3`,
  };
}
