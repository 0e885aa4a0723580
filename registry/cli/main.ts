import { CliUsageError } from './cli-error.js';
import { isHelpOrVersion } from './command-kit.js';
import { runCli } from './program.js';
import { describeFailure } from './failure-text.js';
import { MetadataOptionError } from '../state/metadata-option-error.js';

/**
 * `berth`: exit 0 on success (and for --help, --version), 2 for a mistake in the command line, 1 when the command
 * could not do its work. Errors are one sentence on stderr, never a stack trace.
 */
// `berth image list | head` closes the pipe early: that is the reader being done, not a failure.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

runCli(process.argv.slice(2)).catch((error: unknown) => {
  if (isHelpOrVersion(error)) return;
  // MetadataOptionError: how the metadata backend was configured (a missing master key is found only where one is needed).
  if (error instanceof CliUsageError || error instanceof MetadataOptionError) {
    console.error(`berth: ${error.message}`);
    process.exitCode = 2;
    return;
  }
  console.error(`berth: ${describeFailure(error)}`);
  process.exitCode = 1;
});
