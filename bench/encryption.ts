import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { berthBin, startBerth } from '../test/support/berth-process.js';
import type { ImageLayout } from '../test/support/oci-layout.js';
import { runOk } from '../test/support/tools.js';
import { bestBlobGet, timePush, type BlobGetResult } from './measure.js';

/**
 * Encryption at rest (issue 11): the same push and blob GET as Berth's own rows, against a Berth whose storage has
 * `berth encryption enable` on (AES-256-GCM frames, storage/encryption/). Compared with Berth's unencrypted figures
 * of the same run; the target is at least 0.8x of them. The master key ring is a file in the scratch folder.
 */
export interface EncryptedFigures {
  readonly push: number;
  readonly blobGet: BlobGetResult;
}

export async function measureEncryptedBlobs(options: {
  scratch: string;
  bigs: readonly ImageLayout[];
  blobRuns: number;
  log: (message: string) => void;
}): Promise<EncryptedFigures> {
  const dataDir = join(options.scratch, 'berth-encrypted-data');
  await mkdir(dataDir, { recursive: true });
  const env = { BERTH_ENCRYPTION_KEY_FILE: join(options.scratch, 'berth-encryption-keys.json') };
  await runOk(process.execPath, [berthBin, 'encryption', 'enable', '--data', dataDir], { env, timeoutMs: 60_000 });
  const berth = await startBerth({ dataDir, env });
  try {
    options.log(`berth (encrypted): skopeo push, best of ${options.bigs.length}`);
    let push = Number.POSITIVE_INFINITY;
    for (const [index, big] of options.bigs.entries()) push = Math.min(push, await timePush(big.ref, `${berth.host}/bench/big:${index}`));
    const layer = options.bigs[0]?.layers[0];
    if (!layer) throw new Error('no big image');
    options.log(`berth (encrypted): blob GET with curl, best of ${options.blobRuns}`);
    const blobGet = await bestBlobGet(`${berth.url}/v2/bench/big/blobs/${layer.digest}`, layer.size, options.blobRuns);
    return { push, blobGet };
  } finally {
    await berth.stop();
  }
}
