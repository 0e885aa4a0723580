import { isRepositoryName, isTag } from '../core/names.js';

/**
 * The Berth repository and tag an archive's image name stands for. Archives name images three ways:
 * - OCI layouts: `org.opencontainers.image.ref.name`, a bare tag (skopeo: `1.0`) or a whole reference (Berth's own
 *   exports: `team/app:1`);
 * - containerd and Docker 25+: `io.containerd.image.name`, a fully qualified reference (`docker.io/library/redis:7`);
 * - `docker save`'s manifest.json: `RepoTags`, Docker's short form (`redis:7`, which means docker.io/library/redis:7).
 * A registry host in front is dropped (Berth is the registry now); Docker's names keep their `library/` so that
 * both of Docker's spellings land in one repository.
 */
export interface ImageName {
  readonly repository: string;
  /** Absent: the image is stored by digest only. */
  readonly tag?: string;
}

export const refNameAnnotation = 'org.opencontainers.image.ref.name';
export const containerdNameAnnotation = 'io.containerd.image.name';

/** A first component that names a registry host rather than a path (Docker's rule). */
function isHost(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost';
}

/** Splits `host/path:tag@digest` into repository path and tag, or undefined when it is not a reference. */
export function parseImageName(text: string, docker: boolean): ImageName | undefined {
  const withoutDigest = text.split('@')[0] ?? '';
  const slash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.lastIndexOf(':');
  const tag = colon > slash ? withoutDigest.slice(colon + 1) : undefined;
  const path = colon > slash ? withoutDigest.slice(0, colon) : withoutDigest;
  const components = path.split('/');
  let host: string | undefined;
  if (components.length > 1 && isHost(components[0] as string)) host = components.shift();
  if (docker && (host === undefined || host === 'docker.io' || host === 'index.docker.io') && components.length === 1) components.unshift('library');
  const repository = components.join('/');
  if (!isRepositoryName(repository) || (tag !== undefined && !isTag(tag))) return undefined;
  return tag === undefined ? { repository } : { repository, tag };
}

/**
 * The name of one image of an OCI layout's index.json, from its annotations; `into` (the command's --repository)
 * replaces the repository and keeps the tag. Undefined when the layout gives no repository and none was passed.
 */
export function nameOfLayoutImage(annotations: Readonly<Record<string, string>> | undefined, into: string | undefined): ImageName | undefined | 'invalid' {
  const ref = annotations?.[refNameAnnotation];
  const containerd = annotations?.[containerdNameAnnotation];
  const bareTag = ref !== undefined && isTag(ref) ? ref : undefined;
  const parsed = ref !== undefined && bareTag === undefined ? parseImageName(ref, false) : containerd !== undefined ? parseImageName(containerd, true) : undefined;
  if (ref !== undefined && bareTag === undefined && !parsed && !into) return 'invalid';
  const tag = bareTag ?? parsed?.tag;
  const repository = into ?? parsed?.repository;
  if (repository === undefined) return undefined;
  return tag === undefined ? { repository } : { repository, tag };
}
