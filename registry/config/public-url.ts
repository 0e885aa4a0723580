/**
 * The address clients use for a Berth behind a load balancer (`--public-url https://registry.team.example`, or
 * BERTH_PUBLIC_URL in the node's environment file): its token challenges then name `<public URL>/token` as their
 * realm, whatever node answered and whatever address that node listens on, so the balancer needs no rule rewriting
 * WWW-Authenticate. Its host is also one of the names every node answers for (http/listener-names.ts).
 */

export const publicUrlEnv = 'BERTH_PUBLIC_URL';

/** A --public-url value that is not a bare http(s) origin. */
export class PublicUrlError extends Error {
  override readonly name = 'PublicUrlError';
  readonly code = 'BERTH_PUBLIC_URL_INVALID';
}

/**
 * The origin (`https://registry.team.example`, `https://host:8443`) of the flag's value, else BERTH_PUBLIC_URL's;
 * undefined when neither is set. Only an origin: a path, query, fragment or credentials would be silently dropped or
 * leak into every challenge, so they are refused.
 */
export function parsePublicUrl(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const source = flag !== undefined ? '--public-url' : publicUrlEnv;
  const value = (flag ?? env[publicUrlEnv] ?? '').trim();
  if (value === '') return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new PublicUrlError(`${source} "${value.slice(0, 80)}" is not a URL: use https://HOST[:PORT], the address clients reach the load balancer at`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new PublicUrlError(`${source}: use an https:// (or http://) URL, not ${url.protocol}`);
  if (url.username !== '' || url.password !== '') throw new PublicUrlError(`${source}: the URL must not hold credentials`);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    throw new PublicUrlError(`${source}: only the scheme, host and port (https://registry.team.example): Berth's paths (/v2, /token) are fixed`);
  }
  return url.origin;
}

/** The host name of a public URL (`registry.team.example`, `::1` without brackets), for the names Berth answers. */
export function publicHostOf(publicUrl: string): string {
  return new URL(publicUrl).hostname.replace(/^\[(.*)\]$/, '$1');
}
