/**
 * Driver paths (`/blobs/sha256/ab/...`, built by storage/paths.ts) to object keys under the configured prefix,
 * and back. A "directory" has no object of its own on S3: it is the key prefix `<key>/` of its children.
 */
export interface KeyMapper {
  /** The object key of a path; the root `/` maps to the prefix itself (no object has that key). */
  key(path: string): string;
  /** The prefix every key below `path` starts with. */
  below(path: string): string;
}

export function createKeyMapper(prefix = ''): KeyMapper {
  const root = prefix.replace(/^\/+|\/+$/g, '');
  const base = root === '' ? '' : `${root}/`;

  function segments(path: string): string[] {
    // Paths come from storage/paths.ts, built from validated names; this is the last line of defence.
    const parts = path.split('/').slice(1);
    if (!path.startsWith('/') || (path !== '/' && parts.some((part) => part === '' || part === '.' || part === '..'))) {
      throw new Error(`illegal storage path: ${path}`);
    }
    return path === '/' ? [] : parts;
  }

  return {
    key: (path) => `${base}${segments(path).join('/')}`,
    below: (path) => {
      const parts = segments(path);
      return parts.length === 0 ? base : `${base}${parts.join('/')}/`;
    },
  };
}
