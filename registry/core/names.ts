import { RegistryError } from './errors.js';

/**
 * Repository names and tags, checked against the OCI Distribution grammar:
 *   name  = path-component ('/' path-component)*
 *   path-component = [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
 *   tag   = [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
 * Because every component starts with [a-z0-9], no repository name can collide with the
 * `_manifests`, `_layers` and `_uploads` folders of the storage layout, or climb out of it with `..`.
 */
const nameGrammar = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const tagGrammar = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** Distribution's limit; long names also break file systems' path limits. */
export const maxNameLength = 255;

export function isRepositoryName(value: string): boolean {
  return value.length <= maxNameLength && nameGrammar.test(value);
}

export function assertRepositoryName(value: string): string {
  if (!isRepositoryName(value)) {
    throw new RegistryError('NAME_INVALID', `invalid repository name: ${value.slice(0, 300)}`, { detail: { name: value.slice(0, 300) } });
  }
  return value;
}

export function isTag(value: string): boolean {
  return tagGrammar.test(value);
}

export function assertTag(value: string): string {
  if (!isTag(value)) throw new RegistryError('TAG_INVALID', `invalid tag: ${value.slice(0, 200)}`, { detail: { tag: value.slice(0, 200) } });
  return value;
}

/** The namespace of a repository: its first path component (`team` in `team/app`). */
export function namespaceOf(repository: string): string {
  const slash = repository.indexOf('/');
  return slash === -1 ? repository : repository.slice(0, slash);
}
