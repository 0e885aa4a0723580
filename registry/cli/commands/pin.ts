import type { Command } from 'commander';
import { isRepositoryName, namespaceOf } from '../../core/names.js';
import { addPin, listPins, removePin } from '../../lifecycle/pins.js';
import { CliUsageError } from '../cli-error.js';
import { auditAdmin, dataDirOf, formatTable, formatTime, metadataOf, openState, requireDataDir } from '../admin-support.js';
import { group, jsonOption, leaf, optionsOf, runnableGroup } from '../command-kit.js';
import { formatReference, parseImageReference, referenceOf } from '../image-reference.js';

/**
 * `berth pin REPO:TAG|REPO@DIGEST`, `berth pin list [REPO]`, `berth unpin ...`: images retention never removes
 * (lifecycle/pins.ts), kept in the state every node shares. Pinning what is not stored yet is allowed (a mirror
 * image pinned before its first pull).
 */

async function pin(text: string | undefined, command: Command): Promise<void> {
  if (text === undefined) throw new CliUsageError('missing image: berth pin REPO:TAG or REPO@DIGEST (berth pin list shows the pins)');
  const image = parseImageReference(text, 'image');
  const dataDir = dataDirOf(command);
  const metadata = metadataOf(command);
  const store = await openState(dataDir, metadata);
  let added = false;
  try {
    await store.update((draft) => {
      added = addPin(draft, image.repository, referenceOf(image), 'admin').added;
    });
  } finally {
    await store.close();
  }
  if (added) await auditAdmin(dataDir, metadata, { action: 'pin.add', namespace: namespaceOf(image.repository), repository: image.repository, reference: referenceOf(image) });
  console.log(added ? `Pinned ${formatReference(image)}: retention never removes it.` : `${formatReference(image)} was already pinned.`);
}

async function unpin(text: string, command: Command): Promise<void> {
  const image = parseImageReference(text, 'image');
  const dataDir = dataDirOf(command);
  const metadata = metadataOf(command);
  const store = await openState(dataDir, metadata);
  let removed = false;
  try {
    await store.update((draft) => {
      removed = removePin(draft, image.repository, referenceOf(image));
    });
  } finally {
    await store.close();
  }
  if (!removed) throw new Error(`${formatReference(image)} is not pinned: see "berth pin list"`);
  await auditAdmin(dataDir, metadata, { action: 'pin.remove', namespace: namespaceOf(image.repository), repository: image.repository, reference: referenceOf(image) });
  console.log(`Unpinned ${formatReference(image)}.`);
}

async function list(repository: string | undefined, command: Command): Promise<void> {
  const values = optionsOf<{ json?: boolean }>(command);
  if (repository !== undefined && !isRepositoryName(repository)) throw new CliUsageError(`invalid repository name "${repository.slice(0, 120)}"`);
  const dataDir = dataDirOf(command);
  requireDataDir(dataDir);
  const store = await openState(dataDir, metadataOf(command));
  try {
    const pins = listPins(store.read(), repository);
    if (values.json) {
      console.log(JSON.stringify(pins, null, 2));
      return;
    }
    if (pins.length === 0) {
      console.log('No pins. Pin an image retention must keep with: berth pin REPO:TAG');
      return;
    }
    const rows = pins.map((entry) => [entry.reference.includes(':') ? `${entry.repository}@${entry.reference}` : `${entry.repository}:${entry.reference}`, formatTime(entry.createdAt), entry.by]);
    console.log(formatTable(['IMAGE', 'PINNED', 'BY'], rows));
  } finally {
    await store.close();
  }
}

export function registerPinCommands(program: Command): void {
  const pins = runnableGroup(group(program, 'pin', 'pin an image so retention never removes it', 'Pins an image (REPO:TAG or REPO@DIGEST): retention never removes it or, for a tag, the manifest it points at.'))
    .usage('REPO:TAG|REPO@DIGEST')
    .argument('[IMAGE]', 'REPO:TAG or REPO@DIGEST')
    .allowExcessArguments(false)
    .action((image: string | undefined, _options, command: Command) => pin(image, command));
  leaf(pins, 'list', '[REPO] [--json]', 'Lists the pinned images (of one repository).')
    .argument('[REPO]', 'a repository')
    .addOption(jsonOption())
    .action((repository: string | undefined, _options, command: Command) => list(repository, command));
  leaf(program, 'unpin', 'REPO:TAG|REPO@DIGEST', 'Removes a pin: retention may remove the image again.')
    .summary('remove a pin')
    .argument('<IMAGE>', 'REPO:TAG or REPO@DIGEST')
    .action((image: string, _options, command: Command) => unpin(image, command));
}
