import { isDigest } from '../core/digest.js';
import { isRepositoryName, isTag } from '../core/names.js';
import { CliUsageError } from './cli-error.js';

/** An image in this Berth as the CLI names it: `team/app:1` or `team/app@sha256:…` (no registry host). */
export interface ImageReference {
  repository: string;
  /** A tag, or undefined when named by digest. */
  tag?: string;
  digest?: string;
}

/** `team/app:1` or `team/app@sha256:…`, as it was typed back. */
export function formatReference(reference: ImageReference): string {
  return reference.digest ? `${reference.repository}@${reference.digest}` : `${reference.repository}:${reference.tag ?? ''}`;
}

/** The tag or digest, as the repository store takes it. */
export function referenceOf(reference: ImageReference): string {
  return reference.digest ?? reference.tag ?? '';
}

/**
 * Parses REPO:TAG or REPO@DIGEST. A bare REPO is refused rather than read as REPO:latest: `image rm team/app`
 * must not delete a tag the user did not name. With `allowBare`, a bare REPO is returned without tag or digest
 * (the destination of `image cp`, which then keeps the source's tag).
 */
export function parseImageReference(text: string, what: string, options: { allowBare?: boolean } = {}): ImageReference {
  const shown = text.slice(0, 200);
  const at = text.indexOf('@');
  let repository: string;
  let tag: string | undefined;
  let digest: string | undefined;
  if (at !== -1) {
    repository = text.slice(0, at);
    digest = text.slice(at + 1);
    if (!isDigest(digest)) throw new CliUsageError(`${what} "${shown}": "${digest.slice(0, 80)}" is not a digest (sha256:<64 hex digits>)`);
  } else {
    const colon = text.lastIndexOf(':');
    const slash = text.lastIndexOf('/');
    repository = colon > slash ? text.slice(0, colon) : text;
    tag = colon > slash ? text.slice(colon + 1) : undefined;
    if (tag !== undefined && !isTag(tag)) throw new CliUsageError(`${what} "${shown}": "${tag.slice(0, 80)}" is not a valid tag`);
  }
  const firstComponent = repository.split('/')[0] ?? '';
  if (firstComponent.includes(':') || firstComponent === 'localhost') {
    throw new CliUsageError(`${what} "${shown}": leave out the registry address and name the repository in this Berth, e.g. ${repository.split('/').slice(1).join('/') || 'team/app'}:1`);
  }
  if (!isRepositoryName(repository)) {
    throw new CliUsageError(`${what} "${shown}": "${repository.slice(0, 120)}" is not a repository name (lowercase a-z 0-9 . _ - separated by /, e.g. team/app)`);
  }
  if (tag === undefined && digest === undefined && !options.allowBare) {
    throw new CliUsageError(`${what} "${shown}" names no tag or digest: write ${repository}:TAG or ${repository}@sha256:… (did you mean ${repository}:latest?)`);
  }
  return { repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}
