import { pino, type Logger as PinoLogger, type DestinationStream, type Level } from 'pino';
import { createRequire } from 'node:module';
import type { PinoPretty as PinoPrettyFactory } from 'pino-pretty';
import { formatBytes } from './core/byte-size.js';

/** Structured logs. Secrets never go in here: see redactPaths. */
export type Logger = PinoLogger;

/**
 * `json`: one JSON object per line (epoch-millisecond `time`), for machines: a pipe, a log collector, the desktop
 * app and the tests. `pretty`: one readable line per event with the local time, for a person at a terminal.
 */
export type LogFormat = 'json' | 'pretty';

export const logLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export function isLogLevel(value: string): value is Level | 'silent' {
  return (logLevels as readonly string[]).includes(value);
}

/** Field paths pino blanks out wherever they appear, so a token cannot leak through a log call. */
const redactPaths = ['password', 'token', 'secret', 'authorization', '*.password', '*.token', '*.secret', '*.authorization', 'headers.authorization'];

export function createLogger(options: { level?: string; destination?: DestinationStream; format?: LogFormat } = {}): Logger {
  const level = options.level ?? process.env.BERTH_LOG_LEVEL ?? 'info';
  const destination = options.format === 'pretty' ? prettyStream(options.destination) : (options.destination ?? pino.destination(1));
  return pino({ name: loggerName, level, redact: { paths: redactPaths, censor: '[redacted]' } }, destination);
}

const loggerName = 'berth';

/**
 * A logger writing to `log`'s destination, at its level, without the redaction: for lines whose fields are a fixed
 * set holding no key a redact path names (the traffic line per manifest pull). @pinojs/redact clones each line's
 * object to look for secrets, 8.8 against 4.2 us a line, 4 % of a manifest GET's CPU. A second pino instance, not a
 * child: a child that overrides `redact` left an idle server holding 2.5 MiB more.
 */
export function unredactedLogger(log: Logger): Logger {
  const destination = (log as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym];
  return pino({ name: loggerName, level: log.level }, destination);
}

/** A logger that drops everything: for library users and tests that do not want output. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** Fields every line has, which the pretty line shows in its own way or not at all. */
const shownElsewhere = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'err']);

/**
 * `14:03:07.412 INFO  image pushed repository=team/app tag=1 size=52.3 MiB ms=84`: local time, level, message, then
 * the fields as key=value (quoted only when they hold spaces). Errors keep pino-pretty's own multi-line form.
 * Written synchronously, like the JSON destination: a line logged just before exit is never lost.
 */
function prettyStream(destination: DestinationStream | undefined): DestinationStream {
  // Loaded only for the pretty format: a server logging JSON (piped, the desktop app, a headless node) does not
  // carry pino-pretty and its dependencies in memory.
  const { PinoPretty } = createRequire(import.meta.url)('pino-pretty') as { PinoPretty: typeof PinoPrettyFactory };
  return PinoPretty({
    destination: destination ?? 1,
    sync: true,
    colorize: process.stdout.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,name',
    hideObject: true,
    messageFormat: (log, messageKey) => {
      const fields = Object.entries(log)
        .filter(([key, value]) => !shownElsewhere.has(key) && key !== messageKey && value !== undefined && value !== null)
        .map(([key, value]) => `${key}=${fieldText(key, value)}`);
      return [String(log[messageKey] ?? ''), ...fields].join(' ');
    },
  });
}

function fieldText(key: string, value: unknown): string {
  if (typeof value === 'number' && /(size|bytes)$/i.test(key)) return formatBytes(value);
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return /\s/.test(text) && typeof value === 'string' ? JSON.stringify(text) : text;
}
