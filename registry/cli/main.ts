import { berthVersion } from '../version.js';
import { CliUsageError } from './cli-error.js';
import { auditCommand, auditUsage } from './commands/audit.js';
import { caCommand, caUsage } from './commands/ca.js';
import { gcCommand, gcUsage } from './commands/gc.js';
import { mirrorConfigCommand, mirrorConfigUsage } from './commands/mirror-config.js';
import { namespaceCommand, namespaceUsage } from './commands/namespace.js';
import { serveCommand, serveUsage } from './commands/serve.js';
import { statusCommand, statusUsage } from './commands/status.js';
import { syncCommand, syncUsage } from './commands/sync.js';
import { uiUrlCommand, uiUrlUsage } from './commands/ui-url.js';
import { tokenCommand, tokenUsage } from './commands/token.js';
import { trustCommand, trustUsage } from './commands/trust.js';
import { upstreamCommand, upstreamUsage } from './commands/upstream.js';

type Command = { summary: string; usage: string; run: (argv: string[]) => Promise<void> };

/** Every subcommand of `berth`, with its one-line summary for `berth --help`. */
const commands: Record<string, Command> = {
  serve: { summary: 'run the registry headless', usage: serveUsage, run: serveCommand },
  status: { summary: 'show whether Berth runs, where it listens, upstream health and storage', usage: statusUsage, run: statusCommand },
  token: { summary: 'create, list and revoke access tokens', usage: tokenUsage, run: tokenCommand },
  namespace: { summary: 'list, create, change and delete namespaces', usage: namespaceUsage, run: namespaceCommand },
  upstream: { summary: 'add, list and remove upstream registries to mirror', usage: upstreamUsage, run: upstreamCommand },
  sync: { summary: 'mirror repositories from an upstream on a schedule', usage: syncUsage, run: syncCommand },
  'mirror-config': { summary: 'print Docker, containerd and podman settings for the mirror', usage: mirrorConfigUsage, run: mirrorConfigCommand },
  'ui-url': { summary: 'print a one-time sign-in link for the GUI', usage: uiUrlUsage, run: uiUrlCommand },
  audit: { summary: 'show the audit trail', usage: auditUsage, run: auditCommand },
  gc: { summary: 'free the disk space of deleted images (garbage collection)', usage: gcUsage, run: gcCommand },
  ca: { summary: "export Berth's local CA certificate, or replace it (rotate)", usage: caUsage, run: caCommand },
  trust: { summary: "print how to make clients trust Berth's CA", usage: trustUsage, run: trustCommand },
};

function version(): string {
  return berthVersion;
}

function help(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  const lines = Object.entries(commands).map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`);
  return `Berth ${version()}: a local container registry mirror.

Usage: berth <command> [options]

Commands:
${lines.join('\n')}

Run "berth <command> --help" for a command's options.`;
}

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return;
  }
  if (name === '--version' || name === '-v') {
    console.log(version());
    return;
  }
  const command = commands[name];
  if (!command) throw new CliUsageError(`unknown command "${name}"\n\n${help()}`);
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.usage);
    return;
  }
  await command.run(rest);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof CliUsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    console.error(`berth: ${(error as Error).message}`);
    process.exitCode = 2;
    return;
  }
  console.error(`berth: ${(error as Error).message ?? error}`);
  process.exitCode = 1;
});
