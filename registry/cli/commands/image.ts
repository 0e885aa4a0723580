import type { Command } from 'commander';
import type { ManifestDetail, TagSummary } from '../../admin/contract.js';
import { createImageInspector, type ImageInspector } from '../../admin/image-inspect.js';
import { policyFor } from '../../lifecycle/policies.js';
import { isRepositoryName, namespaceOf } from '../../core/names.js';
import { createRegistry, type Registry } from '../../index.js';
import { lifecycleChecksOf } from '../../lifecycle/content-policy.js';
import type { StateStore } from '../../state/index.js';
import type { MetadataBackend } from '../../state/metadata-backend.js';
import { CliUsageError } from '../cli-error.js';
import { auditAdmin, dataDirOf, formatTable, formatTime, metadataOf, openState, requireDataDir, storageOf, withStorage } from '../admin-support.js';
import { group, jsonOption, leaf, optionsOf } from '../command-kit.js';
import { formatBytes, shortDigest } from '../format.js';
import { copyImage, planImageCopy } from '../image-copy.js';
import { formatReference, parseImageReference, referenceOf, type ImageReference } from '../image-reference.js';

/**
 * `berth image list|inspect|rm|cp`: the images of this Berth, read and changed through the same stores the server
 * uses (a running server sees a change on its next request), described by the admin API's own inspector.
 */

/** The registry's stores over the data directory, without listeners or background collection. */
export async function withRegistry<T>(command: Command, work: (registry: Registry, dataDir: string) => Promise<T>): Promise<T> {
  const dataDir = dataDirOf(command);
  requireDataDir(dataDir);
  const metadata = metadataOf(command);
  // The namespaces' policies as the server reads them: trash days (a delete here is restorable as long as there), and
  // the immutable tags and quotas its deletes and writes obey.
  const { policies, upstreams } = await withState(dataDir, metadata, async (state) => state.read());
  return withStorage(dataDir, storageOf(command), metadata, async (driver) => {
    const registry = await createRegistry({
      dataDir,
      metadata,
      driver,
      garbageCollection: false,
      checkIndexAtStart: false,
      trashDays: (repository) => policyFor({ policies }, repository).trashDays,
      contentPolicy: (stores) => lifecycleChecksOf(stores, () => ({ policies, upstreams })).checks,
    });
    try {
      return await work(registry, dataDir);
    } finally {
      await registry.close(0);
    }
  });
}

async function withState<T>(dataDir: string, metadata: MetadataBackend, work: (state: StateStore) => Promise<T>): Promise<T> {
  const state = await openState(dataDir, metadata);
  try {
    return await work(state);
  } finally {
    await state.close();
  }
}

interface ListedTag extends Omit<TagSummary, 'pushedAt'> {
  pushedAt: string | null;
}

interface ListedRepository {
  repository: string;
  tags: ListedTag[];
}

/** The repositories a `list` argument names: a namespace (no slash: `team`, which includes a repository `team`) or one repository. */
function selects(filter: string | undefined, repository: string): boolean {
  if (filter === undefined) return true;
  return filter.includes('/') ? repository === filter : namespaceOf(repository) === filter;
}

async function list(filter: string | undefined, command: Command): Promise<void> {
  const values = optionsOf<{ json?: boolean }>(command);
  if (filter !== undefined && !isRepositoryName(filter)) {
    throw new CliUsageError(`"${filter.slice(0, 120)}" is neither a namespace (team) nor a repository (team/app)`);
  }
  await withRegistry(command, async (registry) => {
    const inspector = createImageInspector(() => registry);
    const names = (await registry.repositories.listRepositories()).filter((name) => selects(filter, name));
    if (filter !== undefined && names.length === 0) {
      throw new Error(`no ${filter.includes('/') ? 'repository' : 'namespace'} "${filter}" holds images: see "berth image list"`);
    }
    const listed: ListedRepository[] = [];
    for (const repository of names) {
      const tags: ListedTag[] = [];
      for (const tag of (await registry.repositories.listTags(repository)) ?? []) {
        // A tag deleted between the listing and the read just drops out.
        const summary = await inspector.summary(repository, tag);
        if (summary) tags.push({ ...summary, pushedAt: summary.pushedAt ?? null });
      }
      listed.push({ repository, tags });
    }
    if (values.json) {
      console.log(JSON.stringify(listed, null, 2));
      return;
    }
    if (listed.length === 0) {
      console.log('No images yet. Push one (docker push localhost:5000/team/app:1) or pull one through a mirror.');
      return;
    }
    const rows = listed.flatMap(({ repository, tags }) =>
      tags.length === 0
        ? [[repository, '(no tags)', '-', '-', '-', '-', '-', '-']]
        : tags.map((tag) => [
            repository,
            tag.tag,
            shortDigest(tag.digest),
            formatBytes(tag.size),
            tag.platforms.join(',') || '-',
            formatTime(tag.pushedAt),
            String(tag.pullCount),
            formatTime(tag.lastPulledAt),
          ]),
    );
    // Pull records are written by a running server every few seconds: its last seconds of pulls may not show yet.
    console.log(formatTable(['REPOSITORY', 'TAG', 'DIGEST', 'SIZE', 'PLATFORMS', 'PUSHED', 'PULLS', 'LAST PULL'], rows));
  });
}

async function inspectOrFail(inspector: ImageInspector, image: ImageReference): Promise<ManifestDetail> {
  const detail = await inspector.detail(image.repository, referenceOf(image));
  if (!detail) throw new Error(`no image ${formatReference(image)} in this Berth: see "berth image list ${image.repository}"`);
  return detail;
}

function section(title: string, rows: ReadonlyArray<readonly [string, string]>): string[] {
  const shown = rows.filter(([, value]) => value !== '');
  if (shown.length === 0) return [];
  const width = Math.max(...shown.map(([label]) => label.length));
  return ['', title, ...shown.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`)];
}

/** The detail as a person reads it: what it is, what runs, what it is made of, what refers to it. */
async function describe(inspector: ImageInspector, detail: ManifestDetail, pushed: string | null): Promise<string> {
  const lines = [`${detail.repository}${detail.reference.includes(':') ? '@' : ':'}${detail.reference}`];
  lines.push(
    ...section('Manifest', [
      ['digest', detail.digest],
      ['media type', detail.mediaType],
      ['size', `${formatBytes(detail.size)} (manifest ${formatBytes(detail.manifestSize)})`],
      ['platforms', detail.platforms.join(', ')],
      ['tags', detail.tags.join(', ')],
      ['pushed', pushed ? formatTime(pushed) : ''],
      ['pulls', String(detail.pullCount)],
      ['last pull', detail.lastPulledAt ? formatTime(detail.lastPulledAt) : ''],
      ['subject', detail.subject ? detail.subject.digest : ''],
    ]),
  );
  const config = detail.config;
  if (config) {
    const json = (items: readonly string[]) => (items.length > 0 ? JSON.stringify(items) : '');
    lines.push(
      ...section('Config', [
        ['created', config.created ?? ''],
        ['platform', [config.os, config.architecture, config.variant].filter(Boolean).join('/')],
        ['entrypoint', json(config.entrypoint)],
        ['cmd', json(config.cmd)],
        ['working dir', config.workingDir ?? ''],
        ['user', config.user ?? ''],
        ['ports', config.exposedPorts.join(', ')],
        ...config.env.map((entry, i) => [i === 0 ? 'env' : '', entry] as const),
        ...Object.entries(config.labels).map(([key, value], i) => [i === 0 ? 'labels' : '', `${key}=${value}`] as const),
      ]),
    );
  }
  if (detail.layers.length > 0) {
    const total = detail.layers.reduce((sum, layer) => sum + layer.size, 0);
    lines.push('', `Layers (${detail.layers.length}, ${formatBytes(total)})`);
    lines.push(...formatTable(['DIGEST', 'SIZE', 'MEDIA TYPE'], detail.layers.map((layer) => [layer.digest, formatBytes(layer.size), layer.mediaType])).split('\n').map((line) => `  ${line}`));
  }
  if (detail.children.length > 0) {
    const rows: string[][] = [];
    for (const child of detail.children) {
      // The image size of each platform, not the 1 KiB of its manifest.
      const size = child.present ? (await inspector.summary(detail.repository, child.digest))?.size : undefined;
      rows.push([child.platform ?? child.artifactType ?? '-', child.digest, size === undefined ? '-' : formatBytes(size), child.present ? 'stored' : 'not stored here']);
    }
    lines.push('', `Platforms (${detail.children.length})`);
    lines.push(...formatTable(['PLATFORM', 'DIGEST', 'SIZE', 'HERE'], rows).split('\n').map((line) => `  ${line}`));
  }
  if (detail.referrers.length > 0) {
    lines.push('', `Referrers (${detail.referrers.length})`);
    const rows = detail.referrers.map((referrer) => [referrer.artifactType ?? referrer.mediaType, referrer.digest, formatBytes(referrer.size)]);
    lines.push(...formatTable(['ARTIFACT TYPE', 'DIGEST', 'SIZE'], rows).split('\n').map((line) => `  ${line}`));
  }
  return lines.join('\n');
}

async function inspect(text: string, command: Command): Promise<void> {
  const values = optionsOf<{ json?: boolean }>(command);
  const image = parseImageReference(text, 'image');
  await withRegistry(command, async (registry) => {
    const inspector = createImageInspector(() => registry);
    const detail = await inspectOrFail(inspector, image);
    // When the tag got its current manifest (the index's time, as the GUI shows it).
    const pushed = image.tag ? ((await registry.repositories.pushedAt(image.repository, image.tag))?.toISOString() ?? null) : null;
    console.log(values.json ? JSON.stringify({ ...detail, pushedAt: pushed }, null, 2) : await describe(inspector, detail, pushed));
  });
}

async function remove(text: string, command: Command): Promise<void> {
  const image = parseImageReference(text, 'image');
  await withRegistry(command, async (registry, dataDir) => {
    const { repository } = image;
    const event = { action: 'delete', namespace: namespaceOf(repository), repository } as const;
    const by = { actor: 'admin' };
    const restoreHint = (id: string, expiresAt: string) => `It is in the trash until ${formatTime(expiresAt)}: "berth trash restore ${id}" brings it back.`;
    if (image.digest) {
      const entry = await registry.trash.moveManifest(repository, image.digest, by);
      if (!entry) throw new Error(`no manifest ${formatReference(image)} in this Berth: see "berth image list ${repository}"`);
      await auditAdmin(dataDir, metadataOf(command), { ...event, digest: image.digest, detail: { trashEntry: entry.id } });
      const tags = entry.manifests[0]?.tags ?? [];
      const untagged = tags.length > 0 ? ` and its tag${tags.length === 1 ? '' : 's'} ${tags.join(', ')}` : '';
      const referrers = entry.manifests.length > 1 ? ` with ${entry.manifests.length - 1} referrer(s)` : '';
      console.log(`Deleted ${formatReference(image)}${untagged}${referrers}. ${restoreHint(entry.id, entry.expiresAt)}`);
      return;
    }
    const tag = image.tag as string;
    const entry = await registry.trash.moveTag(repository, tag, by);
    if (!entry) throw new Error(`no tag ${formatReference(image)} in this Berth: see "berth image list ${repository}"`);
    const digest = entry.manifests[0]?.digest ?? '';
    await auditAdmin(dataDir, metadataOf(command), { ...event, reference: tag, detail: { trashEntry: entry.id } });
    console.log(
      `Deleted tag ${formatReference(image)}. Its manifest ${shortDigest(digest)}… is still pullable by digest: ` +
        `"berth image rm ${repository}@${digest}" deletes it too. ${restoreHint(entry.id, entry.expiresAt)}`,
    );
  });
}

async function copy(sourceText: string, destinationText: string, command: Command): Promise<void> {
  const source = parseImageReference(sourceText, 'source');
  const target = parseImageReference(destinationText, 'destination', { allowBare: true });
  const tag = target.digest ? undefined : (target.tag ?? source.tag);
  if (target.digest && target.digest !== source.digest) {
    throw new CliUsageError(`destination "${destinationText.slice(0, 200)}": a copy keeps its digest; name a tag (${target.repository}:TAG) or just the repository`);
  }
  const destination: ImageReference = tag !== undefined ? { repository: target.repository, tag } : { repository: target.repository, digest: source.digest };
  if (destination.repository === source.repository && referenceOf(destination) === referenceOf(source)) {
    throw new CliUsageError(`nothing to copy: the source and the destination are both ${formatReference(source)}`);
  }
  await withRegistry(command, async (registry, dataDir) => {
    const destinationNamespace = namespaceOf(destination.repository);
    const state = await withState(dataDir, metadataOf(command), async (store) => store.read());
    const { upstreams } = state;
    if (upstreams.some((upstream) => upstream.name === destinationNamespace)) {
      throw new Error(`namespace "${destinationNamespace}" mirrors upstream "${destinationNamespace}" and takes no pushes: copy into a namespace of your own, e.g. team/${destination.repository.split('/').at(-1) ?? 'app'}`);
    }
    const root = await registry.repositories.getManifest(source.repository, referenceOf(source));
    if (!root) throw new Error(`no image ${formatReference(source)} in this Berth: see "berth image list ${source.repository}"`);
    const { plan, missing } = await planImageCopy(registry.repositories, source.repository, root);
    if (missing.children.length > 0) {
      const platforms = missing.children.map((child) => child.platform ?? shortDigest(child.digest)).join(', ');
      throw new Error(`${formatReference(source)} lists platforms this Berth does not hold (${platforms}): an index is copied whole; pull or sync those platforms first`);
    }
    if (missing.blobs.length > 0) {
      throw new Error(
        `${missing.blobs.length} of the ${plan.blobs.length} blobs (layers, config) of ${formatReference(source)} are not stored in this Berth yet ` +
          '(a mirror fetches them on the first pull): pull the image through Berth once, then copy it',
      );
    }
    // A copy moves the tag as a push would: an immutable one stays where it is.
    if (tag !== undefined) await lifecycleChecksOf(registry, () => state).checks.beforeTagPut(destination.repository, tag, root.digest);
    const previous = tag !== undefined ? await registry.repositories.getManifest(destination.repository, tag) : undefined;
    const result = await copyImage(registry.repositories, plan, destination.repository, tag);
    await recordCopy(dataDir, metadataOf(command), source, destination, plan.manifests.map((manifest) => manifest.digest), root.digest);
    const moved = previous && previous.digest !== root.digest ? ` (the tag pointed at ${shortDigest(previous.digest)}… before)` : '';
    console.log(
      `Copied ${formatReference(source)} to ${formatReference(destination)}${moved}: ${root.digest}, ` +
        `${result.manifests} manifest(s), ${result.linked} blob(s) linked, no bytes copied.`,
    );
  });
}

/**
 * Audited as the pushes they amount to (one event per manifest stored, actor admin, client cli), and the
 * destination namespace comes into being as with a first push: private.
 */
async function recordCopy(dataDir: string, metadata: MetadataBackend, source: ImageReference, destination: ImageReference, digests: string[], rootDigest: string): Promise<void> {
  const namespace = namespaceOf(destination.repository);
  const created = await withState(dataDir, metadata, async (state) => {
    let added = false;
    await state.update((draft) => {
      added = false;
      if (draft.namespaces.some((ns) => ns.name === namespace)) return;
      draft.namespaces.push({ name: namespace, anonymousPull: false, createdAt: new Date().toISOString() });
      added = true;
    });
    return added;
  });
  for (const digest of digests) {
    const reference = digest === rootDigest ? referenceOf(destination) : digest;
    await auditAdmin(dataDir, metadata, { action: 'push', namespace, repository: destination.repository, reference, digest, detail: { copiedFrom: formatReference(source) } });
  }
  if (created) await auditAdmin(dataDir, metadata, { action: 'namespace.create', namespace, detail: { anonymousPull: false, reason: 'first push' } });
}

export function registerImageCommands(program: Command): void {
  const image = group(
    program,
    'image',
    'list, inspect, delete and copy images',
    'The images this Berth holds. An image is named REPOSITORY:TAG or REPOSITORY@DIGEST, without the registry address ' +
      '(team/app:1, hub/library/redis@sha256:…). Changes work while "berth serve" runs: it sees them on its next request.',
  );
  image.addHelpText('after', `
Examples:
  berth image list team
  berth image inspect team/app:1 --json
  berth image cp hub/library/redis:7 team/redis:7
  berth image rm team/app:1`);
  leaf(image, 'list', '[NAMESPACE|REPOSITORY] [--json]', 'repositories and their tags: digest, size, platforms, push time (where Berth saw the push)')
    .alias('ls')
    .argument('[NAMESPACE|REPOSITORY]', 'only this namespace (team) or repository (team/app)')
    .addOption(jsonOption())
    .action((filter: string | undefined, _options, command: Command) => list(filter, command));
  leaf(image, 'inspect', 'REPOSITORY:TAG|REPOSITORY@DIGEST [--json]', 'one image: platforms, layers and their sizes, config, referrers')
    .argument('<IMAGE>', 'the image, e.g. team/app:1 or team/app@sha256:…')
    .addOption(jsonOption('print the details as JSON (the admin API\'s shape, plus pushedAt)'))
    .action((text: string, _options, command: Command) => inspect(text, command));
  leaf(image, 'rm', 'REPOSITORY:TAG|REPOSITORY@DIGEST', 'deletes a tag, or a manifest with every tag on it and its referrers (as DELETE over the registry API does), into the trash: "berth trash restore" brings it back until it expires')
    .alias('delete')
    .argument('<IMAGE>', 'the tag (team/app:1) or manifest (team/app@sha256:…) to delete')
    .action((text: string, _options, command: Command) => remove(text, command));
  leaf(image, 'cp', 'SOURCE DESTINATION', 'copies an image to another repository or namespace inside Berth: links its layers, stores the same manifest (an index with all its platforms); no bytes are copied')
    .argument('<SOURCE>', 'the image to copy, e.g. hub/library/redis:7')
    .argument('<DESTINATION>', "where to, e.g. team/redis:7 (or team/redis: the source's tag)")
    .action((source: string, destination: string, _options, command: Command) => copy(source, destination, command));
}
