import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The part of node:test's TestContext (or a suite) that can run cleanup after the test. */
export interface AfterHook {
  after(fn: () => Promise<void> | void): void;
}

/** Creates a fresh directory under os.tmpdir(), removed (recursively) after the test `t`. */
export async function makeTempDir(t: AfterHook, prefix = 'berth-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => removeDir(dir));
  return dir;
}

/** Creates a fresh directory under os.tmpdir() that the caller removes (with `removeDir`). */
export function createTempDir(prefix = 'berth-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  // maxRetries: a server that just exited may still be closing files (EBUSY/ENOTEMPTY races).
  await rm(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 100 });
}
