import type { Command } from 'commander';
import { join, resolve } from 'node:path';
import { startBerth, type AuthMode } from '../../berth-server.js';
import { changedSettingKeys, createSettingsWatcher } from '../../config/settings-watcher.js';
import { stateFileName, type Settings } from '../../state/index.js';
import { createSettingsFollower } from '../../config/settings-follower.js';
import { defaultDataDir } from '../../config/data-dir.js';
import { parsePublicUrl, PublicUrlError, publicUrlEnv } from '../../config/public-url.js';
import { createLogger, isLogLevel, logLevels, type LogFormat } from '../../log.js';
import { berthVersion } from '../../version.js';
import { CliUsageError } from '../cli-error.js';
import { checkDataDirPath, dataDirOf, metadataOf, storageOf } from '../admin-support.js';
import { describeMetadata } from '../../state/metadata-backend.js';
import { describeStorage } from '../../storage/storage-backend.js';
import { encryptionChoiceEnv, EncryptionOptionError, parseEncryptionChoice, type EncryptionChoice } from '../../storage/encryption/new-deployment.js';
import { optionsOf, leaf } from '../command-kit.js';

interface ServeOptions {
  listen?: string;
  tlsListen?: string;
  auth: string;
  forcePlainHttp?: boolean;
  logLevel?: string;
  logFormat?: string;
  importFolder?: string;
  publicUrl?: string;
  encryption?: string;
}

async function serve(command: Command): Promise<void> {
  const values = optionsOf<ServeOptions>(command);
  if (values.auth !== 'token' && values.auth !== 'none') throw new CliUsageError(`unknown --auth mode "${values.auth}" (token or none)`);
  const level = values.logLevel ?? process.env.BERTH_LOG_LEVEL ?? 'info';
  if (!isLogLevel(level)) throw new CliUsageError(`unknown --log-level "${level.slice(0, 40)}": use ${logLevels.join(', ')}`);
  const format = logFormatOf(values.logFormat);
  const dataDir = dataDirOf(command);
  checkDataDirPath(dataDir);
  const metadata = metadataOf(command);
  const storage = storageOf(command);
  const publicUrl = publicUrlOf(values.publicUrl);
  const encryption = encryptionOf(values.encryption);
  const log = createLogger({ level, format });
  let berth;
  try {
    berth = await startBerth({
      dataDir,
      metadata,
      storage,
      logger: log,
      listen: listenFlag(values.listen),
      tlsListen: listenFlag(values.tlsListen),
      importFolder: values.importFolder === undefined ? undefined : listenFlag(resolveFolder(values.importFolder)),
      auth: values.auth as AuthMode,
      forcePlainHttp: values.forcePlainHttp === true,
      version: berthVersion,
      publicUrl,
      encryption,
    });
  } catch (error) {
    if ((error as Error).message.startsWith('invalid listen address') || (error as Error).message.startsWith('refusing') || (error as Error).message.startsWith('--auth none')) {
      throw new CliUsageError((error as Error).message);
    }
    throw error;
  }
  // A hand edit of the settings in state.json takes effect without a restart where it can (TLS names),
  // and says so where it cannot (listen addresses). The desktop app has its own watcher that restarts.
  // With a shared database the settings change through any node: the node follows its state snapshot instead.
  const applySettings = async (settings: Settings, previous: Settings): Promise<void> => {
    const changed = changedSettingKeys(previous, settings);
    if (changed.includes('tlsNames')) await berth.certificates?.setNames(settings.tlsNames ?? []);
    const needRestart = changed.filter((key) => key === 'listen' || key === 'tlsListen');
    if (needRestart.length > 0) log.warn({ changed: needRestart }, 'listen addresses changed: restart berth serve to apply');
  };
  const watcher =
    metadata.kind === 'file'
      ? await createSettingsWatcher({ path: join(dataDir, stateFileName), logger: log, applySettings })
      : createSettingsFollower({ state: berth.state, logger: log, applySettings });

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting without waiting for in-flight requests');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'stopping: finishing in-flight requests');
    Promise.all([watcher.close(), berth.close()]).then(
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
  // Ready only now: a signal right after this line finds its handler (scripts stop Berth as soon as it is up).
  // The metadata and storage are named only when shared: with the desktop defaults the line stays as it always was.
  log.info(
    {
      url: berth.urls.http,
      tlsUrl: berth.urls.https,
      dataDir,
      ...(metadata.kind === 'file' ? {} : { metadata: describeMetadata(metadata, dataDir) }),
      ...(storage.kind === 'filesystem' ? {} : { storage: describeStorage(storage, dataDir) }),
      auth: values.auth,
      ...(publicUrl ? { publicUrl } : {}),
    },
    'berth ready',
  );
  // The sign-in link is a live secret: never in the log (logs are collected and kept). Say where to get one.
  log.info({ dataDir }, `GUI: run "berth ui-url${dataDir === defaultDataDir() ? '' : ` --data ${dataDir}`}" for a one-time sign-in link`);
}

function publicUrlOf(flag: string | undefined): string | undefined {
  try {
    return parsePublicUrl(flag);
  } catch (error) {
    if (error instanceof PublicUrlError) throw new CliUsageError(error.message);
    throw error;
  }
}

function encryptionOf(flag: string | undefined): EncryptionChoice {
  try {
    return parseEncryptionChoice(flag);
  } catch (error) {
    if (error instanceof EncryptionOptionError) throw new CliUsageError(error.message);
    throw error;
  }
}

/** pretty on a terminal, JSON lines otherwise (a pipe, a file, the desktop app and tests read those). */
function logFormatOf(flag: string | undefined): LogFormat {
  if (flag === undefined) return process.stdout.isTTY ? 'pretty' : 'json';
  if (flag === 'pretty' || flag === 'json') return flag;
  throw new CliUsageError(`unknown --log-format "${flag.slice(0, 40)}": use pretty (readable lines) or json (one JSON object per line)`);
}

export function registerServeCommand(program: Command): void {
  leaf(
    program,
    'serve',
    '[--listen HOST:PORT|off] [--tls-listen HOST:PORT|off] [--auth token|none] [--encryption auto|off] [--log-format pretty|json]',
    'Runs the registry headless until SIGINT/SIGTERM (in-flight requests finish first). "berth status" shows what it ' +
      'listens on; "berth ui-url" prints a sign-in link for the GUI.',
  )
    .summary('run the registry headless')
    .option('--listen <HOST:PORT>', 'plain-HTTP listener, loopback only unless forced (default: the saved setting, else 127.0.0.1:5000); for this run only, the saved setting is not changed; off turns it off')
    .option('--tls-listen <HOST:PORT>', "HTTPS listener with a certificate from Berth's local CA (default: the saved setting, else 127.0.0.1:5443); for this run only; off turns it off")
    .option('--auth <MODE>', 'token: access tokens required; none: open, for loopback development', 'token')
    .option('--force-plain-http', 'allow --listen on a non-loopback address')
    .option('--import-folder <DIR>', 'archives dropped in DIR are imported, then moved to DIR/imported/ or DIR/failed/ (default: the saved setting, else DATA/import); off turns it off')
    .option('--public-url <URL>', `the address clients use behind a load balancer (https://registry.team.example): the realm of token challenges, and a name Berth answers for (default: $${publicUrlEnv})`)
    .option(
      '--encryption <MODE>',
      `encryption at rest of a new deployment: auto turns it on for a new S3 + PostgreSQL one (master keys in the database); off keeps it unencrypted, also at later starts; an existing storage keeps what it has (default: $${encryptionChoiceEnv}, else auto)`,
    )
    .option('--log-level <LEVEL>', `${logLevels.join('|')} (default: $BERTH_LOG_LEVEL, else info)`)
    .option('--log-format <FORMAT>', 'pretty: readable lines with local times; json: one JSON object per line (default: pretty on a terminal, json otherwise)')
    .action((_options, command: Command) => serve(command));
}

function resolveFolder(value: string): string {
  return value === 'off' ? value : resolve(value);
}

function listenFlag(value: string | undefined): string | null | undefined {
  return value === 'off' ? null : value;
}
