import { RegistryError } from './errors.js';
import { parseDigest } from './digest.js';

/** Manifest media types Berth stores and serves (OCI image spec v1.1 and Docker schema 2). */
export const mediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

export type ManifestMediaType = (typeof mediaTypes)[keyof typeof mediaTypes];

const indexTypes = new Set<string>([mediaTypes.ociIndex, mediaTypes.dockerManifestList]);
const knownTypes = new Set<string>(Object.values(mediaTypes));
const schema1Types = new Set([
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
]);

/** Spec-recommended ceiling; larger bodies are refused before they are parsed. */
export const maxManifestBytes = 4 * 1024 * 1024;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: Platform;
  urls?: string[];
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface ParsedManifest {
  mediaType: ManifestMediaType;
  isIndex: boolean;
  config?: Descriptor;
  /** Blobs the manifest needs in the repository: config and layers. */
  blobs: Descriptor[];
  /** Child manifests (indexes only). */
  manifests: Descriptor[];
  subject?: Descriptor;
  /** `artifactType`, or for an image manifest without one, its config media type (referrers API rule). */
  artifactType?: string;
  annotations?: Record<string, string>;
}

export function isManifestMediaType(value: string): value is ManifestMediaType {
  return knownTypes.has(value);
}

/** Strips parameters (`; charset=utf-8`) and case from a Content-Type header. */
export function bareMediaType(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  const bare = contentType.split(';')[0]?.trim().toLowerCase();
  return bare || undefined;
}

function invalid(message: string, detail?: unknown): RegistryError {
  return new RegistryError('MANIFEST_INVALID', message, { detail: detail ?? null });
}

/**
 * Parses and validates a manifest body. `contentType` is the request's Content-Type on push, or
 * undefined when reading back stored bytes (then the media type comes from the body or its shape,
 * which is unambiguous for the four supported types since the Docker ones always carry mediaType).
 */
export function parseManifest(bytes: Uint8Array, contentType?: string): ParsedManifest {
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (error) {
    throw invalid(`manifest is not valid JSON: ${(error as Error).message}`);
  }
  if (!isObject(body)) throw invalid('manifest must be a JSON object');

  const declared = body.mediaType;
  if (declared !== undefined && typeof declared !== 'string') throw invalid('mediaType must be a string');
  const header = bareMediaType(contentType);
  if (declared && schema1Types.has(declared)) throw invalid('Docker schema 1 manifests are not supported; push schema 2 or OCI');
  if (body.schemaVersion !== 2) throw invalid('schemaVersion must be 2');
  if (declared && header && header !== 'application/octet-stream' && declared !== header) {
    throw invalid(`manifest mediaType ${declared} does not match Content-Type ${header}`);
  }
  const mediaType = declared ?? (header && knownTypes.has(header) ? header : Array.isArray(body.manifests) ? mediaTypes.ociIndex : mediaTypes.ociManifest);
  if (!isManifestMediaType(mediaType)) throw invalid(`unsupported manifest media type: ${mediaType}`);

  const isIndex = indexTypes.has(mediaType);
  const subject = body.subject === undefined ? undefined : descriptor(body.subject, 'subject');
  const annotations = stringMap(body.annotations, 'annotations');
  const artifactType = optionalString(body.artifactType, 'artifactType');

  if (isIndex) {
    if (!Array.isArray(body.manifests)) throw invalid('an index must have a manifests array');
    const manifests = body.manifests.map((entry, i) => descriptor(entry, `manifests[${i}]`));
    return { mediaType, isIndex, blobs: [], manifests, subject, artifactType, annotations };
  }
  if (body.config === undefined) throw invalid('an image manifest must have a config descriptor');
  const config = descriptor(body.config, 'config');
  if (!Array.isArray(body.layers)) throw invalid('an image manifest must have a layers array');
  const layers = body.layers.map((entry, i) => descriptor(entry, `layers[${i}]`));
  return {
    mediaType,
    isIndex,
    config,
    // Layers with `urls` (Windows foreign layers) live elsewhere and are not required locally.
    blobs: [config, ...layers.filter((layer) => !layer.urls?.length)],
    manifests: [],
    subject,
    artifactType: artifactType ?? config.mediaType,
    annotations,
  };
}

function descriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw invalid(`${where} must be a descriptor object`);
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== 'string' || mediaType === '') throw invalid(`${where}.mediaType must be a non-empty string`);
  if (typeof digest !== 'string') throw invalid(`${where}.digest must be a string`);
  try {
    parseDigest(digest);
  } catch {
    throw invalid(`${where}.digest is not a valid digest: ${digest.slice(0, 150)}`);
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(`${where}.size must be a non-negative integer`);
  const result: Descriptor = { mediaType, digest, size };
  const artifactType = optionalString(value.artifactType, `${where}.artifactType`);
  if (artifactType) result.artifactType = artifactType;
  const annotations = stringMap(value.annotations, `${where}.annotations`);
  if (annotations) result.annotations = annotations;
  if (isObject(value.platform)) result.platform = value.platform as unknown as Platform;
  if (Array.isArray(value.urls)) result.urls = value.urls.filter((url): url is string => typeof url === 'string');
  return result;
}

function optionalString(value: unknown, where: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid(`${where} must be a string`);
  return value;
}

function stringMap(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string')) throw invalid(`${where} must map strings to strings`);
  return value as Record<string, string>;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
