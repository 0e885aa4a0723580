import { Writable } from 'node:stream';
import { createToken } from '../../registry/auth/index.js';
import { startBerth, type Berth, type BerthOptions } from '../../registry/berth-server.js';
import { createLogger } from '../../registry/log.js';
import { basicHeader } from '../support/registry-auth.js';
import { makeTempDir, type AfterHook } from '../support/temp-dir.js';

/**
 * A whole Berth in this process, as `berth serve` composes it (token auth on, HTTP and HTTPS on ephemeral loopback
 * ports), for the tests of its edges: timeouts, connection caps, sign-in limits, TLS. Its log lines are kept.
 */
export interface EdgeBerth {
  readonly berth: Berth;
  readonly dataDir: string;
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** `https://127.0.0.1:PORT`, when the HTTPS listener is on. */
  readonly tlsUrl?: string;
  /** `Basic ...` for an access token with pull and push on `team/*`. */
  readonly pushAuthorization: string;
  /** Every log line so far, parsed. */
  logs(): Array<Record<string, unknown>>;
  /** Stops Berth (what is pending in log and audit summaries is written then). Also runs after the test. */
  close(): Promise<void>;
}

/** `tokenName` names the push token (default `pusher`): a second start on the same `dataDir` needs another. */
export type EdgeOptions = Omit<BerthOptions, 'dataDir' | 'logger'> & { dataDir?: string; tokenName?: string };

export async function startEdgeBerth(t: AfterHook, options: EdgeOptions = {}): Promise<EdgeBerth> {
  const { dataDir: givenDataDir, tokenName = 'pusher', ...berthOptions } = options;
  const dataDir = givenDataDir ?? (await makeTempDir(t, 'berth-edge-'));
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const logger = createLogger({ level: 'debug', destination });
  const berth = await startBerth({ listen: '127.0.0.1:0', tlsListen: '127.0.0.1:0', ...berthOptions, dataDir, logger });
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= berth.close());
  t.after(close);
  const { token } = await createToken(berth.state, { name: tokenName, scopes: ['team/*:pull,push'] });
  const url = berth.urls.http;
  if (!url) throw new Error('the HTTP listener did not start');
  return { berth, dataDir, url, tlsUrl: berth.urls.https, pushAuthorization: basicHeader(tokenName, token), logs: () => lines, close };
}
