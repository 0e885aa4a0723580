import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { radosgwSkipReason, startRadosgw } from '../support/services/radosgw.js';

/** The test launcher itself: radosgw answers with its bucket, and stop() leaves no process and no directory. */
test('startRadosgw serves a bucket; stop() kills every Ceph daemon it started and removes their directory', { skip: radosgwSkipReason(), timeout: 180_000 }, async () => {
  const server = await startRadosgw();
  console.log(`# radosgw started in ${(server.startupMs / 1000).toFixed(2)} s`);
  const client = new S3Client({ endpoint: server.endpoint, region: server.region, forcePathStyle: true, credentials: server.credentials });
  try {
    await client.send(new HeadBucketCommand({ Bucket: server.bucket }));
  } finally {
    client.destroy();
  }
  const daemons = cephChildren();
  assert.deepEqual(daemons.map((daemon) => daemon.name).sort(), ['ceph-mon', 'ceph-osd', 'radosgw']);
  const dirs = [...new Set(daemons.map((daemon) => daemon.dir))];
  assert.equal(dirs.length, 1, 'one directory holds the whole cluster');
  await server.stop();
  for (const daemon of daemons) assert.equal(existsSync(`/proc/${daemon.pid}`), false, `${daemon.name} (${daemon.pid}) is gone`);
  assert.equal(existsSync(dirs[0] as string), false, `${dirs[0]} is removed`);
  assert.deepEqual(cephChildren(), []);
});

/** The Ceph daemons that are children of this process, with the directory of their ceph.conf. */
function cephChildren(): Array<{ pid: string; name: string; dir: string }> {
  const found: Array<{ pid: string; name: string; dir: string }> = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const parent = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1];
      const name = args[0]?.split('/').pop() ?? '';
      const conf = args[args.indexOf('-c') + 1] ?? '';
      if (parent === String(process.pid) && ['ceph-mon', 'ceph-osd', 'radosgw'].includes(name)) found.push({ pid, name, dir: conf.replace(/\/ceph\.conf$/, '') });
    } catch {
      // exited meanwhile
    }
  }
  return found;
}
