import { parseArgs } from 'node:util';
import { createRegistry } from '../../index.js';
import { defaultDataDir } from '../../config/data-dir.js';
import { isLoopback, parseListenAddress } from '../../config/listen-address.js';
import { createLogger } from '../../log.js';
import { CliUsageError } from '../cli-error.js';

export const serveUsage = `berth serve [--data DIR] [--listen HOST:PORT] [--auth none] [--force-plain-http]

Runs the registry headless until SIGINT/SIGTERM.
  --data DIR          data directory (default: ${defaultDataDir()})
  --listen HOST:PORT  plain-HTTP listener (default: 127.0.0.1:5000)
  --auth MODE         "none": no authentication (development; loopback only)
  --log-level LEVEL   trace|debug|info|warn|error (default: info)`;

export async function serveCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      data: { type: 'string' },
      listen: { type: 'string', default: '127.0.0.1:5000' },
      auth: { type: 'string', default: 'none' },
      'force-plain-http': { type: 'boolean', default: false },
      'log-level': { type: 'string' },
    },
    strict: true,
  });
  if (values.auth !== 'none') throw new CliUsageError(`unknown --auth mode "${values.auth}" (supported: none)`);
  const listen = parseListenAddress(values.listen);
  if (!isLoopback(listen.host) && !values['force-plain-http']) {
    throw new CliUsageError(`refusing plain HTTP on non-loopback address ${listen.host}: anyone on the network could read and write. Use --force-plain-http to insist.`);
  }
  const dataDir = values.data ?? defaultDataDir();
  const log = createLogger({ level: values['log-level'] });
  const registry = await createRegistry({ dataDir, logger: log });
  const { url } = await registry.listen(listen);
  log.info({ url, dataDir, auth: values.auth }, 'berth ready');

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting without waiting for in-flight requests');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'stopping: finishing in-flight requests');
    registry.close().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        log.error({ err: error }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
