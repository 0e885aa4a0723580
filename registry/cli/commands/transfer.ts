import { lifecycleChecksOf } from '../../lifecycle/content-policy.js';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { privateFileMode } from '../../config/private-modes.js';
import { isRepositoryName } from '../../core/names.js';
import { silentLogger } from '../../log.js';
import { openAuditLog } from '../../state/metadata-backend.js';
import { hostPlatform, planExport } from '../../transfer/export-plan.js';
import { createImageImporter } from '../../transfer/image-importer.js';
import { CliUsageError } from '../cli-error.js';
import { dataDirOf, metadataOf, openState, prepareDataDir } from '../admin-support.js';
import { jsonOption, leaf, optionsOf } from '../command-kit.js';
import { formatBytes, shortDigest } from '../format.js';
import { formatReference, parseImageReference, referenceOf } from '../image-reference.js';
import { withRegistry } from './image.js';

/**
 * `berth export` and `berth import`: images to and from an archive file, for machines without a network path
 * between them. Like `berth image`, both work on the data directory's stores (a running server sees the imported
 * images on its next request); the import takes the registry's write path (registry/transfer/).
 */

interface ExportOptions {
  output?: string;
  format: string;
  platform?: string;
}

async function exportImages(texts: string[], command: Command): Promise<void> {
  const values = optionsOf<ExportOptions>(command);
  if (!values.output) throw new CliUsageError('name the archive to write: -o images.tar');
  if (values.format !== 'oci' && values.format !== 'docker') throw new CliUsageError(`--format ${values.format.slice(0, 40)}: use oci or docker`);
  if (values.platform !== undefined && !/^[a-z0-9]+\/[a-z0-9_]+(?:\/[a-z0-9]+)?$/.test(values.platform)) {
    throw new CliUsageError(`--platform ${values.platform.slice(0, 60)}: write os/arch or os/arch/variant, e.g. linux/amd64 or linux/arm64`);
  }
  const images = texts.map((text) => parseImageReference(text, 'image'));
  const output = resolve(values.output);
  await withRegistry(command, async (registry) => {
    const plan = await planExport(
      registry.repositories,
      images.map((image) => ({ repository: image.repository, reference: referenceOf(image) })),
      { format: values.format as 'oci' | 'docker', platform: values.platform },
      registry.blobs,
    );
    // Written beside the target and renamed at the end: a failed export leaves no archive that looks whole.
    const partial = join(dirname(output), `.${basename(output)}.${randomBytes(4).toString('hex')}.partial`);
    try {
      // Loaded here, not with the CLI: every other command (and `berth serve`) would pay for tar-stream.
      const { writeArchive } = await import('../../transfer/archive-writer.js');
      await writeArchive(registry.blobs, plan, createWriteStream(partial, { mode: privateFileMode }));
      await rename(partial, output);
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
    const what = plan.images.map((image, i) => `${formatReference(images[i] ?? { repository: image.repository, tag: image.reference })} (${shortDigest(image.digest)}…)`).join(', ');
    console.log(`Exported ${what} to ${output}: ${plan.manifests.length} manifest(s), ${plan.blobs.length} blob(s), ${formatBytes(plan.contentBytes)}.`);
  });
}

async function importFile(file: string, command: Command): Promise<void> {
  const values = optionsOf<{ repository?: string; json?: boolean }>(command);
  if (values.repository !== undefined && !isRepositoryName(values.repository)) {
    throw new CliUsageError(`--repository ${JSON.stringify(values.repository.slice(0, 120))}: not a repository name (lowercase a-z 0-9 . _ - separated by /, e.g. team/app)`);
  }
  const path = resolve(file);
  if (!(await stat(path).then((info) => info.isFile(), () => false))) throw new CliUsageError(`no archive file at ${path}`);
  // A fresh machine's first import creates the data directory, as "berth serve" would.
  await prepareDataDir(dataDirOf(command));
  await withRegistry(command, async (registry, dataDir) => {
    const metadata = metadataOf(command);
    const state = await openState(dataDir, metadata);
    const audit = await openAuditLog(dataDir, metadata);
    try {
      const policy = lifecycleChecksOf(registry, () => state.read()).checks;
      const importer = createImageImporter({ stores: registry, state, audit, log: silentLogger(), policy });
      const result = await importer.importFile({ path, repository: values.repository, actor: 'admin', client: 'cli' });
      if (values.json) {
        console.log(JSON.stringify(result, null, 2));
        return;
      }
      const names = result.images.map((image) => (image.tag ? `${image.repository}:${image.tag}` : `${image.repository}@${image.digest}`));
      console.log(
        `Imported ${names.join(', ')} from ${basename(file)} (${result.format === 'oci' ? 'OCI layout' : 'docker save'}): ` +
          `${result.blobsStored} blob(s) stored (${formatBytes(result.bytesStored)}), ${result.blobsReused} already here.`,
      );
    } finally {
      await audit.close();
      await state.close();
    }
  });
}

export function registerTransferCommands(program: Command): void {
  leaf(
    program,
    'export',
    'IMAGE... -o FILE [--format oci|docker] [--platform os/arch]',
    'Writes images to a tar archive for another machine: an OCI image layout with every platform and referrer ' +
      '(signatures, SBOMs) by default, which "berth import", skopeo (oci-archive:) and podman load read; with ' +
      '--format docker, what "docker load" reads: ONE platform per image (--platform, default the host\'s, ' +
      `here ${hostPlatform()}). Digests stay byte-exact.`,
  )
    .summary('write images to an archive (OCI layout, or docker load format)')
    .argument('<IMAGE...>', 'images as team/app:1 or team/app@sha256:…')
    .option('-o, --output <FILE>', 'the archive to write (replaced only once complete)')
    .option('--format <FORMAT>', 'oci (every platform and referrer) or docker (one platform, for docker load)', 'oci')
    .option('--platform <OS/ARCH>', `with --format docker: the platform taken from a multi-platform image (default ${hostPlatform()})`)
    .action((texts: string[], _options, command: Command) => exportImages(texts, command));
  leaf(
    program,
    'import',
    'FILE [--repository REPO] [--json]',
    'Imports the images of an archive: an OCI image layout tar (berth export, skopeo oci-archive:, docker save of ' +
      'Docker 25+) or a classic "docker save" tar. Every blob is checked against its digest before anything is ' +
      'stored; a corrupt or unsafe archive imports nothing. Images keep the names the archive gives ' +
      '(docker.io/library/redis:7 and redis:7 become library/redis:7); --repository puts them all in REPO instead, keeping their tags.',
  )
    .summary('import the images of an OCI layout or docker save archive')
    .argument('<FILE>', 'the archive, e.g. images.tar')
    .option('--repository <REPO>', 'store every image in this repository (needed when the archive names tags only)')
    .addOption(jsonOption('print what was imported as JSON'))
    .action((file: string, _options, command: Command) => importFile(file, command));
}
