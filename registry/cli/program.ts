import { berthVersion } from '../version.js';
import { BerthCommand, configureHelp, dataOption, metadataOption, storageOption } from './command-kit.js';
import { registerAuditCommands } from './commands/audit.js';
import { registerCaCommands } from './commands/ca.js';
import { registerEncryptionCommands } from './commands/encryption.js';
import { registerGcCommand } from './commands/gc.js';
import { registerImageCommands } from './commands/image.js';
import { registerImmutableCommands } from './commands/immutable.js';
import { registerQuotaCommands } from './commands/quota.js';
import { registerMigrateCommand } from './commands/migrate.js';
import { registerMirrorConfigCommand } from './commands/mirror-config.js';
import { registerNamespaceCommands } from './commands/namespace.js';
import { registerPinCommands } from './commands/pin.js';
import { registerRetentionCommands } from './commands/retention.js';
import { registerSecretsCommands } from './commands/secrets.js';
import { registerServeCommand } from './commands/serve.js';
import { registerStatusCommand } from './commands/status.js';
import { registerSyncCommands } from './commands/sync.js';
import { registerTokenCommands } from './commands/token.js';
import { registerTransferCommands } from './commands/transfer.js';
import { registerTrashCommands } from './commands/trash.js';
import { registerTrustCommand } from './commands/trust.js';
import { registerUiUrlCommand } from './commands/ui-url.js';
import { registerUpstreamCommands } from './commands/upstream.js';

/**
 * The whole `berth` command line, built fresh for each run (commander keeps parsed values on the command objects,
 * so a program is never parsed twice: tests run several commands in one process).
 */
export function createProgram(): BerthCommand {
  const program = new BerthCommand('berth')
    .description(`Berth ${berthVersion}: a local container registry mirror.`)
    .usage('COMMAND [options]')
    .version(berthVersion, '-v, --version', 'print the version')
    .helpOption('-h, --help', 'show help for a command')
    .addOption(dataOption())
    .addOption(metadataOption())
    .addOption(storageOption())
    // Errors are thrown (see BerthCommand.error), help and version end the run without process.exit.
    .exitOverride()
    .configureOutput({ outputError: () => undefined, writeErr: (text) => process.stderr.write(text) });
  configureHelp(program);
  registerServeCommand(program);
  registerStatusCommand(program);
  registerTokenCommands(program);
  registerNamespaceCommands(program);
  registerImageCommands(program);
  registerTransferCommands(program);
  registerQuotaCommands(program);
  registerImmutableCommands(program);
  registerTrashCommands(program);
  registerUpstreamCommands(program);
  registerSyncCommands(program);
  registerMirrorConfigCommand(program);
  registerUiUrlCommand(program);
  registerAuditCommands(program);
  registerGcCommand(program);
  registerRetentionCommands(program);
  registerPinCommands(program);
  registerEncryptionCommands(program);
  registerMigrateCommand(program);
  registerSecretsCommands(program);
  registerCaCommands(program);
  registerTrustCommand(program);
  program.addHelpText('after', '\nRun "berth COMMAND --help" for a command\'s options.');
  return program;
}

/** Runs one command line (without `node berth`); rejects with CliUsageError for a mistake in it. */
export async function runCli(argv: readonly string[]): Promise<void> {
  const program = createProgram();
  if (argv.length === 0) {
    program.outputHelp();
    return;
  }
  await program.parseAsync([...argv], { from: 'user' });
}
