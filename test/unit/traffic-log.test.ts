import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger, createRegistry } from '../../registry/index.js';
import { logContentTraffic } from '../../registry/traffic-log.js';
import { makeTempDir } from '../support/temp-dir.js';

/** The push/pull log costs the manifest GET path nothing above info level: not even a listener. */

function capture(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, stream };
}

test('above info no listener is added; at info every pull event becomes a line', async (t) => {
  const registry = await createRegistry({ dataDir: await makeTempDir(t), garbageCollection: false });
  t.after(() => registry.close(0));
  const before = { pulled: registry.events.listenerCount('manifest.pulled'), pushed: registry.events.listenerCount('manifest.pushed') };

  logContentTraffic(registry, createLogger({ level: 'warn', destination: capture().stream }));
  assert.deepEqual({ pulled: registry.events.listenerCount('manifest.pulled'), pushed: registry.events.listenerCount('manifest.pushed') }, before);

  const { lines, stream } = capture();
  logContentTraffic(registry, createLogger({ level: 'info', destination: stream }));
  assert.equal(registry.events.listenerCount('manifest.pulled'), before.pulled + 1);
  const event = { repository: 'team/app', reference: '1', digest: `sha256:${'a'.repeat(64)}`, size: 500, durationMs: 1.234, actor: 'ci', client: '127.0.0.1' };
  registry.events.emit('manifest.pulled', event);
  registry.events.emit('manifest.pulled', event);
  for (const deadline = Date.now() + 5_000; lines.length < 2 && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 10));
  const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.deepEqual(
    parsed.map((line) => [line.msg, line.repository, line.tag, line.size, line.durationMs]),
    [
      ['image pulled', 'team/app', '1', 500, 1.2],
      ['image pulled', 'team/app', '1', 500, 1.2],
    ],
    'the manifest size when the image is not stored here; both pulls logged',
  );
});
