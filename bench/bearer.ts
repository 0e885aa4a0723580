import { join } from 'node:path';
import { berthBin, startBerth, type BerthProcess } from '../test/support/berth-process.js';
import { mediaTypes, type ImageLayout } from '../test/support/oci-layout.js';
import { runOk } from '../test/support/tools.js';
import { cpuSeconds } from './process-cpu.js';
import { runWrk, type WrkOptions, type WrkResult } from './wrk.js';

/** One side of the comparison: the median round by req/s, and Berth's CPU per request over all its rounds. */
export interface ManifestGetSide {
  median: WrkResult;
  /** Berth's own CPU time per request (µs): steadier than req/s when the machine is busy. */
  cpuMicrosPerRequest: number | undefined;
}

export interface BearerFigures {
  /** A Berth with its default `--auth token`, wrk sending `Authorization: Bearer JWT`. */
  bearer: ManifestGetSide;
  /** The same Berth, the same GET without credentials (the namespace allows anonymous pulls). */
  anonymous: ManifestGetSide;
  /** A second Berth, with `--auth none`, holding the same image. */
  open: ManifestGetSide;
  rounds: number;
}

const rounds = 3;

/**
 * Manifest GET with Docker token auth, as a logged-in client pulls, against the same GET without credentials: what
 * a JWT costs on the hot path (issue 12's target: at least 0.9x). A Berth with its default `--auth token`, an access
 * token created with the CLI, a JWT from `/token`, then wrk sending `Authorization: Bearer JWT` on every request;
 * the namespace also allows anonymous pulls, so the same process answers the same GET without credentials. Beside
 * it a Berth with `--auth none` holding the same image. The three are measured in alternating rounds, each figure
 * the median of its rounds. The target compares Bearer with anonymous on the one process: two identical Berth
 * processes measured in alternating rounds here differed by 14 % in CPU per request, more than the JWT costs.
 */
export async function measureBearerManifestGet(options: {
  scratch: string;
  small: ImageLayout;
  wrk: WrkOptions;
  log: (message: string) => void;
}): Promise<BearerFigures> {
  const tokenData = join(options.scratch, 'berth-token-data');
  const tokenBerth = await startBerth({ dataDir: tokenData, auth: 'token', tlsListen: 'off' });
  let openBerth: BerthProcess | undefined;
  try {
    const created = await runOk(process.execPath, [berthBin, 'token', 'create', '--name', 'bench', '--scope', 'bench/*:pull,push', '--data', tokenData]);
    const secret = created.stdout.trimEnd().split('\n').at(-1) ?? '';
    await runOk('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', `bench:${secret}`, options.small.ref, `docker://${tokenBerth.host}/bench/small:1`], { timeoutMs: 120_000 });
    const answer = await fetch(`${tokenBerth.url}/token?service=berth&scope=repository:bench/small:pull`, {
      headers: { Authorization: `Basic ${Buffer.from(`bench:${secret}`).toString('base64')}` },
    });
    const { token } = (await answer.json()) as { token: string };

    // Anonymous pulls of the namespace, for the same-process comparison; the server reads the CLI's change within
    // its state refresh, so wait until an anonymous GET is answered.
    await runOk(process.execPath, [berthBin, 'namespace', 'set', 'bench', '--anonymous-pull=true', '--data', tokenData]).catch(() =>
      runOk(process.execPath, [berthBin, 'namespace', 'create', 'bench', '--anonymous-pull', '--data', tokenData]),
    );
    const manifestUrl = `${tokenBerth.url}/v2/bench/small/manifests/1`;
    for (let attempt = 0; (await fetch(manifestUrl, { headers: { Accept: mediaTypes.imageManifest } })).status !== 200; attempt += 1) {
      if (attempt >= 50) throw new Error('the namespace bench did not become anonymously pullable');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    openBerth = await startBerth({ dataDir: join(options.scratch, 'berth-open-data'), auth: 'none', tlsListen: 'off' });
    await runOk('skopeo', ['copy', '--dest-tls-verify=false', options.small.ref, `docker://${openBerth.host}/bench/small:1`], { timeoutMs: 120_000 });

    interface Side {
      name: string;
      url: string;
      headers: Record<string, string>;
      pid: number;
      runs: WrkResult[];
      /** Berth's CPU seconds over the measured rounds; undefined when /proc could not be read. */
      cpu: number | undefined;
    }
    const side = (name: string, berth: BerthProcess, headers: Record<string, string>): Side => ({
      name,
      url: `${berth.url}/v2/bench/small/manifests/1`,
      headers: { Accept: mediaTypes.imageManifest, ...headers },
      pid: berth.pid,
      runs: [],
      cpu: 0,
    });
    const open = side('open', openBerth, {});
    const anonymous = side('anonymous', tokenBerth, {});
    const bearer = side('Bearer', tokenBerth, { Authorization: `Bearer ${token}` });
    const sides = [open, anonymous, bearer];
    // A warm-up per side, unmeasured: the first requests load the manifest and compile the hot path.
    for (const { url, headers } of sides) await runWrk(url, { ...options.wrk, durationSec: 2, headers });
    options.log(`berth: manifest GET, open (--auth none), anonymous and with a Bearer JWT (token auth), ${rounds} alternating rounds of ${options.wrk.durationSec}s each`);
    for (let round = 0; round < rounds; round += 1) {
      for (const measured of sides) {
        const before = await cpuSeconds(measured.pid);
        const result = await runWrk(measured.url, { ...options.wrk, headers: measured.headers });
        const after = await cpuSeconds(measured.pid);
        if (result.non2xx3xx > 0) throw new Error(`${measured.name} manifest GET: ${result.non2xx3xx} of ${result.requests} responses were not 2xx/3xx, the figure is void`);
        measured.runs.push(result);
        measured.cpu = before === undefined || after === undefined || measured.cpu === undefined ? undefined : measured.cpu + after - before;
      }
    }
    const sideOf = ({ runs, cpu }: Side): ManifestGetSide => {
      const sorted = [...runs].sort((a, b) => a.requestsPerSec - b.requestsPerSec);
      const median = sorted[Math.floor(sorted.length / 2)] as WrkResult;
      const requests = runs.reduce((sum, run) => sum + run.requests, 0);
      return { median, cpuMicrosPerRequest: cpu !== undefined && requests > 0 ? (cpu * 1e6) / requests : undefined };
    };
    return { bearer: sideOf(bearer), anonymous: sideOf(anonymous), open: sideOf(open), rounds };
  } finally {
    await tokenBerth.stop();
    await openBerth?.stop();
  }
}
