import type { ParsedDigest } from '../core/digest.js';

/**
 * The one place that knows Berth's storage layout. Every key handed to a StorageDriver is built
 * here from already-validated names, tags and digests:
 *
 *   /blobs/<alg>/<2 hex>/<hex>/data                              content, written once, read many
 *   /repositories/<name>/_layers/<alg>/<hex>/link                blob visible in <name>
 *   /repositories/<name>/_manifests/revisions/<alg>/<hex>/link   manifest stored in <name>
 *   /repositories/<name>/_manifests/tags/<tag>/current/link      tag -> manifest digest
 *   /repositories/<name>/_referrers/<alg>/<subject hex>/<alg>/<hex>/link
 *                                                                 manifest whose subject is <subject>
 *   /repositories/<name>/_uploads/<id>/data                      upload session bytes
 *   /repositories/<name>/_uploads/<id>/startedat                 RFC 3339 start time (for purging)
 *   /repositories/<name>/_uploads/<id>/data-tail                 encrypted upload data only: the last partial frame
 *                                                                 between PATCHes (storage/encryption/frame-writer.ts)
 *   /gc-quarantine/<alg>/<hex>                                   a blob's data while garbage collection makes its
 *                                                                 last check (storage/blob-quarantine.ts)
 *   /encryption/data-keys/<2 hex>/<key id>                        an encrypted object's data key, wrapped by a master key
 *                                                                 (storage/encryption/data-keys.ts)
 *   /encryption/rewrites/<uuid>                                  a plaintext blob being rewritten encrypted
 *                                                                 (storage/encryption/encrypt-existing.ts)
 *   /berth-encryption                                            whether new content is written encrypted
 *                                                                 (storage/encryption/encryption-marker.ts)
 *   /berth-storage-id                                            random id of this storage, written once when a
 *                                                                 PostgreSQL metadata database is first bound to it
 *                                                                 (storage/storage-binding.ts)
 *
 * A link file holds a digest: the global content-addressed store becomes visible per repository
 * only through links, so a repository can read exactly what was pushed or mounted into it.
 * Repository names cannot start with `_` (core/names.ts), so they never collide with `_layers` etc.
 */
export type PathSpec =
  | { kind: 'blobData'; digest: ParsedDigest }
  | { kind: 'blobFolder'; digest: ParsedDigest }
  | { kind: 'blobsRoot' }
  | { kind: 'quarantinedBlob'; digest: ParsedDigest }
  | { kind: 'quarantineRoot' }
  | { kind: 'storageId' }
  | { kind: 'dataKeysRoot' }
  | { kind: 'dataKey'; keyId: string }
  | { kind: 'encryptionRewrites' }
  | { kind: 'encryptionRewrite'; id: string }
  | { kind: 'encryptionMarker' }
  | { kind: 'repositoriesRoot' }
  | { kind: 'repository'; repository: string }
  | { kind: 'layerLinks'; repository: string; algorithm: string }
  | { kind: 'repositoryFolder'; repository: string; folder: RepositoryFolder }
  | { kind: 'layerLink'; repository: string; digest: ParsedDigest }
  | { kind: 'manifestRevisionLink'; repository: string; digest: ParsedDigest }
  | { kind: 'manifestRevisions'; repository: string; algorithm: string }
  | { kind: 'manifestRevisionsRoot'; repository: string }
  | { kind: 'tags'; repository: string }
  | { kind: 'tag'; repository: string; tag: string }
  | { kind: 'tagCurrentLink'; repository: string; tag: string }
  | { kind: 'referrerSubjects'; repository: string; algorithm: string }
  | { kind: 'referrers'; repository: string; subject: ParsedDigest; algorithm: string }
  | { kind: 'referrerLink'; repository: string; subject: ParsedDigest; digest: ParsedDigest }
  | { kind: 'uploads'; repository: string }
  | { kind: 'upload'; repository: string; id: string }
  | { kind: 'uploadData'; repository: string; id: string }
  | { kind: 'uploadStartedAt'; repository: string; id: string }
  | { kind: 'uploadDataTail'; repository: string; id: string };

/** The `_`-prefixed folders of a repository; a folder holding one of them is a repository. */
export type RepositoryFolder = '_manifests' | '_referrers' | '_layers' | '_uploads';

export function pathFor(spec: PathSpec): string {
  switch (spec.kind) {
    case 'blobData':
      return `/blobs/${spec.digest.algorithm}/${spec.digest.hex.slice(0, 2)}/${spec.digest.hex}/data`;
    case 'blobFolder':
      return `/blobs/${spec.digest.algorithm}/${spec.digest.hex.slice(0, 2)}/${spec.digest.hex}`;
    case 'blobsRoot':
      return '/blobs';
    case 'quarantinedBlob':
      return `/gc-quarantine/${spec.digest.algorithm}/${spec.digest.hex}`;
    case 'quarantineRoot':
      return '/gc-quarantine';
    case 'storageId':
      return '/berth-storage-id';
    case 'dataKeysRoot':
      return '/encryption/data-keys';
    case 'dataKey':
      return `/encryption/data-keys/${spec.keyId.slice(0, 2)}/${spec.keyId}`;
    case 'encryptionRewrites':
      return '/encryption/rewrites';
    case 'encryptionRewrite':
      return `/encryption/rewrites/${spec.id}`;
    case 'encryptionMarker':
      return '/berth-encryption';
    case 'repositoriesRoot':
      return '/repositories';
    case 'repository':
      return `/repositories/${spec.repository}`;
    case 'layerLinks':
      return `/repositories/${spec.repository}/_layers/${spec.algorithm}`;
    case 'repositoryFolder':
      return `/repositories/${spec.repository}/${spec.folder}`;
    case 'layerLink':
      return `/repositories/${spec.repository}/_layers/${spec.digest.algorithm}/${spec.digest.hex}/link`;
    case 'manifestRevisionLink':
      return `/repositories/${spec.repository}/_manifests/revisions/${spec.digest.algorithm}/${spec.digest.hex}/link`;
    case 'manifestRevisions':
      return `/repositories/${spec.repository}/_manifests/revisions/${spec.algorithm}`;
    case 'manifestRevisionsRoot':
      return `/repositories/${spec.repository}/_manifests/revisions`;
    case 'tags':
      return `/repositories/${spec.repository}/_manifests/tags`;
    case 'tag':
      return `/repositories/${spec.repository}/_manifests/tags/${spec.tag}`;
    case 'tagCurrentLink':
      return `/repositories/${spec.repository}/_manifests/tags/${spec.tag}/current/link`;
    case 'referrerSubjects':
      return `/repositories/${spec.repository}/_referrers/${spec.algorithm}`;
    case 'referrers':
      return `/repositories/${spec.repository}/_referrers/${spec.subject.algorithm}/${spec.subject.hex}/${spec.algorithm}`;
    case 'referrerLink':
      return `/repositories/${spec.repository}/_referrers/${spec.subject.algorithm}/${spec.subject.hex}/${spec.digest.algorithm}/${spec.digest.hex}/link`;
    case 'uploads':
      return `/repositories/${spec.repository}/_uploads`;
    case 'upload':
      return `/repositories/${spec.repository}/_uploads/${spec.id}`;
    case 'uploadData':
      return `/repositories/${spec.repository}/_uploads/${spec.id}/data`;
    case 'uploadStartedAt':
      return `/repositories/${spec.repository}/_uploads/${spec.id}/startedat`;
    case 'uploadDataTail':
      return `/repositories/${spec.repository}/_uploads/${spec.id}/data-tail`;
  }
}

/**
 * What a stored object holds, for the encrypting layer (storage/encryption/encrypting-driver.ts): `content` is a
 * finished blob or manifest (in /blobs, the quarantine, or a rewrite), `upload` is upload data still being
 * appended to; anything else (links, start times, keys, markers) is not image content and stays as it is.
 */
export function contentKindOf(path: string): 'content' | 'upload' | undefined {
  if (/^\/blobs\/[a-z0-9]+\/[0-9a-f]{2}\/[0-9a-f]+\/data$/.test(path)) return 'content';
  if (/^\/gc-quarantine\/[a-z0-9]+\/[0-9a-f]+$/.test(path)) return 'content';
  if (/^\/encryption\/rewrites\/[0-9a-f-]+$/.test(path)) return 'content';
  if (/^\/repositories\/.+\/_uploads\/[0-9a-f-]+\/data$/.test(path)) return 'upload';
  return undefined;
}

/** The tail object of upload data at `uploadDataPath` (see uploadDataTail above). */
export function uploadTailPathOf(uploadDataPath: string): string {
  return `${uploadDataPath}-tail`;
}
