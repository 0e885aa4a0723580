import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';

/** Structured JSON logs (one object per line). Secrets never go in here: see redactPaths. */
export type Logger = PinoLogger;

/** Field paths pino blanks out wherever they appear, so a token cannot leak through a log call. */
const redactPaths = ['password', 'token', 'secret', 'authorization', '*.password', '*.token', '*.secret', '*.authorization', 'headers.authorization'];

export function createLogger(options: { level?: string; destination?: DestinationStream } = {}): Logger {
  const level = options.level ?? process.env.BERTH_LOG_LEVEL ?? 'info';
  return pino({ name: 'berth', level, redact: { paths: redactPaths, censor: '[redacted]' } }, options.destination ?? pino.destination(1));
}

/** A logger that drops everything: for library users and tests that do not want output. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
