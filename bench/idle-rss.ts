import { readFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { startBerth } from '../test/support/berth-process.js';
import { startDistribution } from '../test/support/distribution.js';

/**
 * Idle memory as a user's laptop sees it: `berth serve` with its defaults (token auth, the HTTPS listener with its
 * certificates already made by an earlier start), left alone for `settleMs` after it is ready (V8 gives back the
 * memory its start used a few seconds later), then VmRSS and its private part (RssAnon: the heap, what the process
 * costs beyond the code pages that every node process on the machine shares). Beside it, a fresh distribution 2.8
 * (what the issue compares with) and a bare `node` idling the same way (the floor of any Node server).
 */
export interface IdleRss {
  rssMiB: number;
  anonMiB: number;
  distributionRssMiB: number | undefined;
  nodeRssMiB: number;
  nodeAnonMiB: number;
}

const mib = 1024 * 1024;

async function memoryOf(pid: number): Promise<{ rss: number; anon: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rss: kib('VmRSS'), anon: kib('RssAnon') };
}

export async function measureIdleRss(options: { scratch: string; settleMs?: number }): Promise<IdleRss> {
  const settleMs = options.settleMs ?? 15_000;
  const dataDir = join(options.scratch, 'berth-idle-data');
  // The first start makes the CA and the server certificate; a user's every later start finds them.
  await (await startBerth({ dataDir, auth: 'token' })).stop();
  const berth = await startBerth({ dataDir, auth: 'token' });
  const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  const distribution = await startDistribution({ accessLog: false, logLevel: 'error' });
  try {
    await delay(settleMs);
    const server = await memoryOf(berth.pid);
    const floor = await memoryOf(bare.pid as number);
    const distributionPid = distribution.pid();
    const peer = distributionPid === undefined ? undefined : await memoryOf(distributionPid);
    return { rssMiB: server.rss / mib, anonMiB: server.anon / mib, distributionRssMiB: peer && peer.rss / mib, nodeRssMiB: floor.rss / mib, nodeAnonMiB: floor.anon / mib };
  } finally {
    bare.kill();
    await distribution.stop();
    await berth.stop();
  }
}
