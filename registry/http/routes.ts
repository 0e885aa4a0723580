/**
 * Maps `/v2/...` paths to routes. Repository names contain slashes, so each pattern anchors on the
 * last known suffix (`/manifests/<ref>`, `/blobs/uploads/<id>`, ...). Nothing here is percent-decoded
 * except the final reference, so `%2e%2e` never turns into `..`: names are checked against the
 * spec's grammar afterwards and a non-matching one is NAME_INVALID.
 */
export type V2Route =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'uploads'; name: string }
  | { kind: 'upload'; name: string; id: string }
  | { kind: 'tags'; name: string }
  | { kind: 'referrers'; name: string; digest: string };

const patterns: Array<[RegExp, (m: RegExpExecArray) => V2Route]> = [
  [/^\/v2\/?$/, () => ({ kind: 'base' })],
  [/^\/v2\/_catalog$/, () => ({ kind: 'catalog' })],
  [/^\/v2\/(.+)\/blobs\/uploads\/?$/, (m) => ({ kind: 'uploads', name: m[1] as string })],
  [/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, (m) => ({ kind: 'upload', name: m[1] as string, id: m[2] as string })],
  [/^\/v2\/(.+)\/blobs\/([^/]+)$/, (m) => ({ kind: 'blob', name: m[1] as string, digest: decode(m[2] as string) })],
  [/^\/v2\/(.+)\/manifests\/([^/]+)$/, (m) => ({ kind: 'manifest', name: m[1] as string, reference: decode(m[2] as string) })],
  [/^\/v2\/(.+)\/tags\/list$/, (m) => ({ kind: 'tags', name: m[1] as string })],
  [/^\/v2\/(.+)\/referrers\/([^/]+)$/, (m) => ({ kind: 'referrers', name: m[1] as string, digest: decode(m[2] as string) })],
];

export function matchV2Route(pathname: string): V2Route | undefined {
  for (const [pattern, build] of patterns) {
    const match = pattern.exec(pathname);
    if (match) return build(match);
  }
  return undefined;
}

/** Some clients escape the `:` of a digest; a malformed escape is left as is and fails validation. */
function decode(segment: string): string {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
