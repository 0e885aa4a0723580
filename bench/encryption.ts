import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { berthBin, startBerth, type BerthProcess } from '../test/support/berth-process.js';
import type { ImageLayout } from '../test/support/oci-layout.js';
import { runOk } from '../test/support/tools.js';
import { curlBlobGet, median, timePush, type BlobGetResult } from './measure.js';

/**
 * Encryption at rest (issue 11): push and blob GET against a Berth whose storage has `berth encryption enable` on
 * (AES-256-GCM frames, storage/encryption/), and against a plain Berth, in the same alternating rounds. Two processes
 * measured minutes apart differ by more on this machine than the target allows (stop 20's note), so each round
 * measures both sides back to back, the side that goes first alternating, and the figure checked is the median of
 * the rounds' own ratios: a slow spell of the machine then spoils one round, not the comparison. The target is at
 * least 0.8x of the plain figures. The master key ring is a file in the scratch folder.
 */
export interface EncryptedFigures {
  /** Best rounds of each side. */
  readonly push: number;
  readonly blobGet: BlobGetResult;
  readonly plainPush: number;
  readonly plainBlobGet: BlobGetResult;
  /** Median over the rounds of encrypted/plain push time, and of encrypted/plain blob GET MiB/s. */
  readonly pushRatio: number;
  readonly blobGetRatio: number;
  readonly pushRounds: number;
  readonly blobGetRounds: number;
}

interface Side {
  readonly berth: BerthProcess;
  pushes: number[];
  blobGets: BlobGetResult[];
}

/** Blob GET rounds at least: a 128 MiB GET takes a tenth of a second, and the ratio of two of them is noisy. */
const minBlobGetRounds = 7;

export async function measureEncryptedBlobs(options: {
  scratch: string;
  /** One image per push round: each round pushes new blobs to both sides, so neither finds them already there. */
  bigs: readonly ImageLayout[];
  blobRuns: number;
  log: (message: string) => void;
}): Promise<EncryptedFigures> {
  const env = { BERTH_ENCRYPTION_KEY_FILE: join(options.scratch, 'berth-encryption-keys.json') };
  const encryptedDir = join(options.scratch, 'berth-encrypted-data');
  const plainDir = join(options.scratch, 'berth-plain-data');
  await mkdir(encryptedDir, { recursive: true });
  await mkdir(plainDir, { recursive: true });
  await runOk(process.execPath, [berthBin, 'encryption', 'enable', '--data', encryptedDir], { env, timeoutMs: 60_000 });
  const started: BerthProcess[] = [];
  try {
    const encrypted: Side = { berth: await startBerth({ dataDir: encryptedDir, env }), pushes: [], blobGets: [] };
    started.push(encrypted.berth);
    const plain: Side = { berth: await startBerth({ dataDir: plainDir }), pushes: [], blobGets: [] };
    started.push(plain.berth);
    const inTurn = (round: number): Side[] => (round % 2 === 0 ? [encrypted, plain] : [plain, encrypted]);

    options.log(`encrypted and plain berth: skopeo push in ${options.bigs.length} alternating rounds`);
    for (const [index, big] of options.bigs.entries()) {
      for (const side of inTurn(index)) side.pushes.push(await timePush(big.ref, `${side.berth.host}/bench/big:${index}`));
    }
    const layer = options.bigs[0]?.layers[0];
    if (!layer) throw new Error('no big image');
    const getRounds = Math.max(options.blobRuns, minBlobGetRounds);
    options.log(`encrypted and plain berth: blob GET with curl in ${getRounds} alternating rounds`);
    for (let round = 0; round < getRounds; round++) {
      for (const side of inTurn(round)) side.blobGets.push(await curlBlobGet(`${side.berth.url}/v2/bench/big/blobs/${layer.digest}`, layer.size));
    }
    const fastest = (results: readonly BlobGetResult[]) => results.reduce((best, result) => (result.seconds < best.seconds ? result : best));
    return {
      push: Math.min(...encrypted.pushes),
      plainPush: Math.min(...plain.pushes),
      blobGet: fastest(encrypted.blobGets),
      plainBlobGet: fastest(plain.blobGets),
      pushRatio: median(encrypted.pushes.map((seconds, round) => seconds / (plain.pushes[round] as number))),
      blobGetRatio: median(encrypted.blobGets.map((result, round) => result.mibPerSec / (plain.blobGets[round] as BlobGetResult).mibPerSec)),
      pushRounds: encrypted.pushes.length,
      blobGetRounds: getRounds,
    };
  } finally {
    for (const berth of started) await berth.stop();
  }
}
