import { lockNames, type ClusterLocks } from '../../cluster/cluster-locks.js';
import type { Logger } from '../../log.js';
import type { MetadataBackend } from '../../state/metadata-backend.js';
import { isPathNotFound } from '../driver.js';
import { pathFor } from '../paths.js';
import type { StorageBackend } from '../storage-backend.js';
import type { EncryptingDriver } from './encrypting-driver.js';
import { readEncryptionDecision, writeEncryptionOff } from './encryption-marker.js';
import { enableEncryption } from './encryption-operations.js';

/**
 * Encryption at rest on by default where a team deploys Berth: S3 storage with PostgreSQL metadata, whose key ring
 * every node shares through the database (state/postgres/shared-key-ring.ts), so turning it on needs nothing from
 * the operator. At `berth serve`'s start, under a cluster lock (nodes starting together decide once):
 *
 * - the storage's marker decided already (on, or "off"): followed, whatever this start's flags say;
 * - new (no marker, and nothing under /blobs or /repositories: two listings of at most one key each on S3):
 *   turned on (the ring made, the marker written), or, with `--encryption off` (BERTH_ENCRYPTION=off), "off"
 *   recorded in the marker so that a later start with the defaults does not turn it on;
 * - content but no marker (a deployment from before this default): never switched silently; a log line says how
 *   (`berth encryption enable`, which also encrypts what is there), and `--encryption off` records "off".
 *
 * Anything else (the desktop's filesystem + state.json, S3 with state.json) keeps the old default: off, nothing
 * written. Nothing here turns encryption off: `--encryption off` on an encrypted storage is a warning.
 */

export type EncryptionChoice = 'auto' | 'off';
export const encryptionChoiceEnv = 'BERTH_ENCRYPTION';

/** A mistake in `--encryption`/BERTH_ENCRYPTION: said in the option's terms (the CLI exits 2 on it). */
export class EncryptionOptionError extends Error {
  readonly code = 'BERTH_ENCRYPTION_OPTION';
  constructor(message: string) {
    super(message);
    this.name = 'EncryptionOptionError';
  }
}

/** The choice from `--encryption` (which wins) or BERTH_ENCRYPTION; neither is `auto`. */
export function parseEncryptionChoice(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): EncryptionChoice {
  const source = flag !== undefined ? '--encryption' : encryptionChoiceEnv;
  const value = (flag ?? env[encryptionChoiceEnv] ?? '').trim();
  if (value === '' || value === 'auto') return 'auto';
  if (value === 'off') return 'off';
  throw new EncryptionOptionError(
    `${source} "${value.slice(0, 40)}" is neither auto (on for a new S3 + PostgreSQL deployment) nor off (a new deployment stays unencrypted); "berth encryption enable" turns it on at any time`,
  );
}

/** What the start found and did. */
export type DeploymentEncryption =
  | { readonly outcome: 'turned-on'; readonly activeKey: string }
  | { readonly outcome: 'recorded-off' }
  | { readonly outcome: 'on' | 'off'; readonly since: string }
  | { readonly outcome: 'existing-unencrypted' }
  | { readonly outcome: 'not-a-team-deployment' };

/** Where the default applies: image content in S3 shared through PostgreSQL metadata (a team registry). */
export function isTeamDeployment(storage: StorageBackend, metadata: MetadataBackend): boolean {
  return storage.kind === 's3' && metadata.kind === 'postgres';
}

export interface DeploymentEncryptionOptions {
  readonly driver: EncryptingDriver;
  readonly teamDeployment: boolean;
  readonly choice: EncryptionChoice;
  /** Nodes starting at once take turns: the first decides, the others find its marker. */
  readonly locks: ClusterLocks;
  readonly log: Logger;
}

export async function applyDeploymentEncryption(options: DeploymentEncryptionOptions): Promise<DeploymentEncryption> {
  const { driver, choice, log } = options;
  if (!options.teamDeployment) {
    if (choice === 'off') await warnIfOn(options);
    return { outcome: 'not-a-team-deployment' };
  }
  const lock = await options.locks.acquire(lockNames.encryptionDecision);
  try {
    const decided = await readEncryptionDecision(driver);
    if (decided?.enabled === true) {
      if (choice === 'off') warnOn(log, decided.enabledAt);
      return { outcome: 'on', since: decided.enabledAt };
    }
    if (decided) {
      log.info({ decidedAt: decided.decidedAt }, 'encryption at rest is off for this deployment (chosen with --encryption off at its first start): "berth encryption enable" turns it on');
      return { outcome: 'off', since: decided.decidedAt };
    }
    if (choice === 'off') {
      await writeEncryptionOff(driver);
      log.info('encryption at rest stays off for this deployment (--encryption off), also at later starts: "berth encryption enable" turns it on');
      return { outcome: 'recorded-off' };
    }
    if (await holdsContent(driver)) {
      log.info(
        'this storage holds content from before encryption at rest was on by default, and stays unencrypted: run "berth encryption enable" ' +
          '(online: it encrypts what is stored, then every node writes encrypted), or start with --encryption off to record that it stays off',
      );
      return { outcome: 'existing-unencrypted' };
    }
    const enabled = await enableEncryption(driver);
    log.info(
      { activeKey: enabled.activeKey, keyRing: driver.masterKeys.store.source },
      'encryption at rest is on for this new deployment: master keys in the metadata database, sealed with the master key (start the first node with --encryption off for an unencrypted one)',
    );
    return { outcome: 'turned-on', activeKey: enabled.activeKey };
  } finally {
    await lock.release();
  }
}

/** Whether anything was ever pushed, mirrored or uploaded: a blob, or a repository (links, tags, an upload). */
async function holdsContent(driver: EncryptingDriver): Promise<boolean> {
  for (const root of [pathFor({ kind: 'blobsRoot' }), pathFor({ kind: 'repositoriesRoot' })]) {
    try {
      await driver.stat(root);
      return true;
    } catch (error) {
      if (!isPathNotFound(error)) throw error;
    }
  }
  return false;
}

async function warnIfOn({ driver, log }: DeploymentEncryptionOptions): Promise<void> {
  const decided = await readEncryptionDecision(driver);
  if (decided?.enabled === true) warnOn(log, decided.enabledAt);
}

function warnOn(log: Logger, since: string): void {
  log.warn({ enabledAt: since }, '--encryption off is for a new deployment, and this storage is encrypted already: it stays encrypted (nothing turns encryption off)');
}
