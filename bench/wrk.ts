import { runOk } from '../test/support/tools.js';

/** wrk's summary for one run. */
export interface WrkResult {
  readonly requestsPerSec: number;
  readonly requests: number;
  /** Mean latency in milliseconds. */
  readonly latencyAvgMs: number;
  /** Responses with a status outside 2xx/3xx: any of these makes the figure meaningless. */
  readonly non2xx3xx: number;
  readonly socketErrors: number;
  readonly raw: string;
}

export interface WrkOptions {
  readonly threads: number;
  readonly connections: number;
  readonly durationSec: number;
  readonly headers?: Readonly<Record<string, string>>;
}

function toMs(value: string, unit: string): number {
  const n = Number(value);
  switch (unit) {
    case 'us':
      return n / 1000;
    case 'ms':
      return n;
    case 's':
      return n * 1000;
    case 'm':
      return n * 60_000;
    default:
      return Number.NaN;
  }
}

/** Parses wrk's text output (the `Requests/sec:` line is the figure the benchmark reports). */
export function parseWrk(output: string): WrkResult {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(output);
  if (!rps) throw new Error(`wrk printed no Requests/sec line:\n${output}`);
  const total = /(\d+) requests in/.exec(output);
  const latency = /^\s+Latency\s+([\d.]+)(us|ms|s|m)\b/m.exec(output);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(output);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const socketErrors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return {
    requestsPerSec: Number(rps[1]),
    requests: total ? Number(total[1]) : 0,
    latencyAvgMs: latency ? toMs(latency[1] as string, latency[2] as string) : Number.NaN,
    non2xx3xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors,
    raw: output,
  };
}

export async function runWrk(url: string, options: WrkOptions): Promise<WrkResult> {
  const args = [`-t${options.threads}`, `-c${options.connections}`, `-d${options.durationSec}s`, '--latency'];
  for (const [name, value] of Object.entries(options.headers ?? {})) args.push('-H', `${name}: ${value}`);
  args.push(url);
  const result = await runOk('wrk', args, { timeoutMs: (options.durationSec + 30) * 1000 });
  return parseWrk(result.stdout);
}
