import { join } from 'node:path';
import { berthBin, startBerth } from '../test/support/berth-process.js';
import { mediaTypes, type ImageLayout } from '../test/support/oci-layout.js';
import { runOk } from '../test/support/tools.js';
import { runWrk, type WrkOptions, type WrkResult } from './wrk.js';

/**
 * Manifest GET with Docker token auth, as a logged-in client pulls: a Berth with its default `--auth token`, an
 * access token created with the CLI, a JWT from `/token`, then wrk sending `Authorization: Bearer JWT` on every
 * request. Compared with the open (`--auth none`) figure of the same run, it shows what token auth costs on the
 * hot path (issue 12's target: at least 0.9x).
 */
export async function measureBearerManifestGet(options: {
  scratch: string;
  small: ImageLayout;
  wrk: WrkOptions;
  log: (message: string) => void;
}): Promise<WrkResult> {
  const dataDir = join(options.scratch, 'berth-token-data');
  const berth = await startBerth({ dataDir, auth: 'token', tlsListen: 'off' });
  try {
    const created = await runOk(process.execPath, [berthBin, 'token', 'create', '--name', 'bench', '--scope', 'bench/*:pull,push', '--data', dataDir]);
    const secret = created.stdout.trimEnd().split('\n').at(-1) ?? '';
    await runOk('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', `bench:${secret}`, options.small.ref, `docker://${berth.host}/bench/small:1`], { timeoutMs: 120_000 });
    const answer = await fetch(`${berth.url}/token?service=berth&scope=repository:bench/small:pull`, {
      headers: { Authorization: `Basic ${Buffer.from(`bench:${secret}`).toString('base64')}` },
    });
    const { token } = (await answer.json()) as { token: string };
    const url = `${berth.url}/v2/bench/small/manifests/1`;
    const headers = { Accept: mediaTypes.imageManifest, Authorization: `Bearer ${token}` };
    options.log(`berth (token auth): manifest GET with a Bearer JWT (${options.wrk.durationSec}s after a 2s warm-up)`);
    await runWrk(url, { ...options.wrk, durationSec: 2, headers });
    const result = await runWrk(url, { ...options.wrk, headers });
    if (result.non2xx3xx > 0) throw new Error(`Bearer manifest GET: ${result.non2xx3xx} of ${result.requests} responses were not 2xx/3xx, the figure is void`);
    return result;
  } finally {
    await berth.stop();
  }
}
