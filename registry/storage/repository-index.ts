/**
 * The metadata index: what the link files of every repository say (repositories, tags with their push time,
 * manifest revisions, layer links, referrers, and what each stored manifest references), kept where a page of a
 * listing is one indexed query instead of a walk of the tree. The link files stay the source of truth; the index is
 * derived from them (storage/repository-index-builder.ts) and updated by the same code paths that write them
 * (storage/repository-store.ts), in an order that keeps a crash safe:
 *
 * - What listings show (repositories, tags, referrers) is a subset of the files: added after the link file is
 *   written, removed before it is deleted. A kill -9 in between leaves the index showing less, never a tag whose
 *   manifest is missing.
 * - What garbage collection keeps (layer links, manifest revisions) must never be missed, or a blob that a
 *   repository links would be swept: a link is first recorded as an intent (`intendLink`, not yet a claim), then the
 *   file is written, then the intent becomes a link (`commitLink`); removal deletes the file first. Collection keeps
 *   intents too; the builder's verify turns an intent whose file exists into a link and drops the rest.
 *
 * Every change bumps its repository's change counter, so a rebuild of one repository (read the files, then replace
 * the rows) can tell when a writer got in between and must read again (`replaceRepository`). Writers in other
 * processes (the CLI's `image rm`, `gc`, `sync run`) share the index, so a running server sees their changes.
 *
 * The contract is small and backend-neutral (async, plain values): the filesystem backend keeps it in SQLite under
 * `<data>/index/`; a shared database can implement the same for several nodes.
 */
export interface RepositoryIndex {
  /** True once the index was built from the link files; until then listings walk the files instead. */
  isReady(): Promise<boolean>;
  /** Marks the index as built (after a full build from the files). */
  markReady(): Promise<void>;
  /** The repository's change counter (see replaceRepository). */
  changeCount(repository: string): Promise<number>;
  /**
   * The same counter read synchronously, by an index on this machine (SQLite: a few µs). The manifest cache checks
   * its entries against it (each repository's at most once a millisecond), so a running server serves nothing that
   * another process (the CLI's `retention run`, `image rm`) removed before the request came. A shared database
   * leaves it out: a round trip per manifest GET would cost more than the cache saves, and its nodes keep to the
   * cache's 1 s TTL.
   */
  readonly changeCountNow?: (repository: string) => number;

  /** Before a link file is written: the link may exist from now on (collection keeps what it names). */
  intendLink(repository: string, kind: LinkKind, digest: string): Promise<void>;
  /** After the link file was written: the repository holds the link (a manifest: it is listed from now on). */
  commitLink(repository: string, kind: LinkKind, digest: string): Promise<void>;
  /** After the link file was deleted. */
  removeLink(repository: string, kind: LinkKind, digest: string): Promise<void>;
  /** After the tag's link file was written. */
  putTag(repository: string, tag: string, digest: string, pushedAt: Date): Promise<void>;
  /** Before the tag's files are deleted. */
  removeTag(repository: string, tag: string): Promise<void>;
  /** After the referrer's link file was written. */
  putReferrer(repository: string, subject: string, digest: string): Promise<void>;
  /** Before the referrer's link file is deleted. */
  removeReferrer(repository: string, subject: string, digest: string): Promise<void>;
  /** What a stored manifest references (config and layers; an index's children): content by digest never changes. */
  putReferences(manifest: string, references: ManifestReferences): Promise<void>;
  /** The size of a stored blob or manifest (content by digest never changes): what namespace usage sums. */
  putBlobSize(digest: string, size: number): Promise<void>;

  /**
   * Repositories holding at least one manifest (what the catalog, the GUI and the CLI list), in lexical order,
   * after `last` (exclusive), at most `limit`.
   */
  listRepositories(page: PageRequest): Promise<string[]>;
  /** Every repository the index holds rows for (also those without a manifest): what a verify checks. */
  knownRepositories(): Promise<string[]>;
  /** Names of a repository's tags in lexical order (what tags/list needs); undefined when the repository is unknown. */
  listTagNames(repository: string, page: PageRequest): Promise<string[] | undefined>;
  /**
   * Tags of a repository in lexical order; undefined when the index holds no such repository (one whose folder holds
   * layers or manifests, also after every manifest was deleted; not a folder with only an upload session).
   */
  listTags(repository: string, page: PageRequest): Promise<TagEntry[] | undefined>;
  countTags(repository: string): Promise<number>;
  /** What the index holds for one repository (links without intents), and how many intents; undefined when unknown. */
  snapshotOf(repository: string): Promise<{ snapshot: RepositorySnapshot; intents: number } | undefined>;
  /** Digests of the manifests whose subject is `subject` in the repository, in lexical order. */
  listReferrers(repository: string, subject: string): Promise<string[]>;

  /**
   * Replaces everything the index holds for one repository with `snapshot` (read from its files), unless the
   * repository changed since `changeCount` returned `expectedChanges`: then nothing is written and false returned,
   * and the caller reads the files again. Intents younger than `keepIntentsAfter` survive (a write in flight).
   */
  replaceRepository(repository: string, expectedChanges: number, snapshot: RepositorySnapshot, keepIntentsAfter: Date): Promise<boolean>;
  /** Drops a repository whose folder is gone (same change check as replaceRepository). */
  forgetRepository(repository: string, expectedChanges: number): Promise<boolean>;

  /**
   * Every repository's layer links and manifest revisions (intents included) and tag targets, ordered by repository:
   * what collection marks from.
   */
  linkedDigests(): Promise<Array<{ repository: string; kind: LinkKind | 'tag'; digest: string }>>;
  /** What `manifest` references, or undefined when the index does not know the manifest. */
  referencesOf(manifest: string): Promise<ManifestReferences | undefined>;
  /** Whether any repository links `digest` (as a layer or a revision), intents included. */
  isLinkedAnywhere(digest: string): Promise<boolean>;
  /**
   * The unique bytes the repositories of `namespace` (`team`, `team/...`) link, layers and manifest revisions, intents
   * included, each digest counted once: what a storage quota limits. Digests whose size the index does not know
   * (links found by a rebuild) are listed in `unsized` (at most `unsizedLimit`, default 1000) and not in `bytes`.
   */
  namespaceUsage(namespace: string, unsizedLimit?: number): Promise<NamespaceUsage>;
  /** Whether a repository of `namespace` links `digest` (then storing it there again adds no bytes). */
  namespaceLinks(namespace: string, digest: string): Promise<boolean>;
  /**
   * Every repository that links anything, with what a listing shows (the GUI's Images page), in one pass over the
   * index instead of reading each repository's manifests: its unique linked bytes as namespaceUsage counts them
   * (for the repository alone, nested ones not included; `unsized` lists all), its tag count and newest tag push.
   */
  repositoryUsages(): Promise<RepositoryUsage[]>;

  close(): Promise<void>;
}

export type LinkKind = 'layer' | 'manifest';

export interface NamespaceUsage {
  bytes: number;
  /** Unique digests linked. */
  blobs: number;
  unsized: string[];
}

export interface RepositoryUsage extends NamespaceUsage {
  repository: string;
  tags: number;
  /** When a tag of it last moved; undefined when it has no tag. */
  lastTagPushedAt?: Date;
}

export interface ManifestReferences {
  /** Config and layers (foreign layers included: they are descriptors like any other). */
  blobs: string[];
  /** An index's children. */
  manifests: string[];
}

export interface PageRequest {
  /** Exclusive lower bound. */
  last?: string;
  /** Maximum number of entries; all when not given. */
  limit?: number;
  /** Entries to skip after `last` (page-number navigation in the GUI). */
  offset?: number;
}

export interface TagEntry {
  tag: string;
  digest: string;
  /** When the tag got its current manifest (the link file's time for tags found by a rebuild). */
  pushedAt: Date;
}

/** What a repository's link files say, as read by the builder. */
export interface RepositorySnapshot {
  /** The folder holds `_layers` or `_manifests` (a folder with only an upload session is not a repository yet). */
  exists: boolean;
  layers: string[];
  manifests: string[];
  tags: TagEntry[];
  referrers: Array<{ subject: string; digest: string }>;
}
