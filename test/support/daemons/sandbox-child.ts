import { startDockerd } from './dockerd.js';

/**
 * A test process that dies with its daemons running, for the teardown tests: `node sandbox-child.js dockerd`
 * starts a dockerd (with its containerd) in a sandbox, prints `{"dir":…,"pids":[…]}` and waits to be
 * killed. Its after hooks never run: what cleans up is the exit hook (SIGTERM) or the next process's sweep
 * (SIGKILL). Without arguments it does nothing (node --test may load every file under dist/test/).
 */
async function main(): Promise<void> {
  if (process.argv[2] !== 'dockerd') return;
  const neverRun = { after: () => undefined };
  const instance = await startDockerd(neverRun);
  process.stdout.write(`${JSON.stringify({ dir: instance.sandbox.dir, pids: [instance.dockerd.pid, instance.containerd.pid] })}\n`);
  setInterval(() => undefined, 60_000);
}

await main();
