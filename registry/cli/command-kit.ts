import { Command, Help, Option, type OptionValues } from 'commander';
import { defaultDataDir } from '../config/data-dir.js';
import { CliUsageError } from './cli-error.js';

/**
 * How every `berth` command is declared (commander): options, arguments and help come from one definition, and
 * every mistake in how a command was called becomes one CliUsageError sentence that says what to do, followed by
 * the command's usage line (exit 2). Shared options (--data, --json) are defined here once.
 *
 * Commander reports its own errors through Command.error(); BerthCommand replaces that with the translation
 * below, so a typo never reaches the user as parser jargon and nothing calls process.exit behind our back.
 */

/** Commander's error codes for the mistakes a person makes on a command line. */
type ParseErrorCode =
  | 'commander.unknownOption'
  | 'commander.unknownCommand'
  | 'commander.excessArguments'
  | 'commander.missingArgument'
  | 'commander.optionMissingArgument'
  | 'commander.missingMandatoryOptionValue'
  | 'commander.conflictingOption'
  | 'commander.invalidArgument';

export class BerthCommand extends Command {
  override createCommand(name?: string): BerthCommand {
    return new BerthCommand(name);
  }

  override error(message: string, errorOptions?: { code?: string; exitCode?: number }): never {
    throw new CliUsageError(translate(this, message, errorOptions?.code as ParseErrorCode | undefined));
  }
}

/** `berth token create`: the command's path from the root. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let at: Command | null = command; at; at = at.parent) names.unshift(at.name());
  return names.join(' ');
}

/** `berth token create --name NAME --scope PATTERN:ACTIONS ...`: what an error message ends with. */
export function usageLine(command: Command): string {
  const usage = command.usage();
  return `${commandPath(command)}${usage ? ` ${usage}` : ''}`;
}

function withUsage(command: Command, sentence: string): string {
  if (command.commands.length > 0 && !runnable.has(command)) {
    return `${sentence}\nRun "${commandPath(command)} --help" for its commands.`;
  }
  return `${sentence}\nUsage: ${usageLine(command)}\nRun "${commandPath(command)} --help" for the options.`;
}

/** The quoted flag in commander's message (`error: unknown option '--nmae'`). */
function quoted(message: string): string | undefined {
  return /'([^']+)'/.exec(message)?.[1];
}

/** Commander's own spelling suggestion ("(Did you mean --name?)"), when it made one. */
function suggestion(message: string): string {
  const match = /\(Did you mean ([^?]+)\?\)/.exec(message);
  return match ? ` (did you mean ${match[1]}?)` : '';
}

function subcommandList(command: Command): string {
  const names = command.commands.map((sub) => sub.name());
  return names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;
}

function translate(command: Command, message: string, code: ParseErrorCode | undefined): string {
  switch (code) {
    case 'commander.unknownOption':
      return withUsage(command, `unknown option ${quoted(message) ?? message}${suggestion(message)}`);
    case 'commander.unknownCommand':
      return `unknown command "${quoted(message) ?? ''}"${suggestion(message)}: run "${commandPath(command)} --help" for the list`;
    case 'commander.excessArguments': {
      const extra = command.args[command.registeredArguments.length];
      return withUsage(command, `unexpected argument "${String(extra ?? '').slice(0, 80)}"`);
    }
    case 'commander.missingArgument': {
      const name = quoted(message);
      const argument = command.registeredArguments.find((arg) => arg.name() === name);
      return withUsage(command, `missing ${argument?.description || name}`);
    }
    case 'commander.optionMissingArgument': {
      const flags = quoted(message) ?? '';
      const option = command.options.find((opt) => opt.flags === flags);
      return withUsage(command, `${option?.long ?? flags} needs a value${option?.description ? `: ${option.description}` : ''}`);
    }
    default:
      return withUsage(command, message.replace(/^error: /, ''));
  }
}

/** Groups (`berth token`) that also run on their own (`berth audit` lists, `berth audit prune` prunes). */
const runnable = new WeakSet<Command>();

/**
 * A command that holds subcommands. Called alone or with an unknown subcommand, it says which ones exist
 * (commander would print its help to stderr and exit 1).
 */
export function group(parent: Command, name: string, summary: string, description: string): BerthCommand {
  const command = (parent.command(name) as BerthCommand).summary(summary).description(description).usage('COMMAND [options]');
  command.allowExcessArguments(true).action((_options: OptionValues, self: Command) => {
    const [first] = self.args;
    if (first === 'help' && self.args.length === 1) {
      self.outputHelp();
      return;
    }
    const noun = commandPath(self).replace(/^berth /, '');
    if (first === undefined) throw new CliUsageError(`missing ${noun} command: use ${subcommandList(self)}\nRun "${commandPath(self)} --help" for what each does.`);
    throw new CliUsageError(`unknown ${noun} command "${first.slice(0, 80)}": use ${subcommandList(self)}\nRun "${commandPath(self)} --help" for what each does.`);
  });
  return command;
}

/** A command that runs. `usage` is its synopsis after the command path, e.g. `NAME [--json]`. */
export function leaf(parent: Command, name: string, usage: string, description: string): BerthCommand {
  const command = (parent.command(name) as BerthCommand).usage(usage).description(description);
  // Set here, not inherited: a group allows extra words only to name them in its own error.
  command.allowExcessArguments(false);
  return command;
}

/** Marks a group as a command in its own right (its action is the caller's), for help and error texts. */
export function runnableGroup(command: BerthCommand): BerthCommand {
  runnable.add(command);
  return command;
}

/** `--data DIR`, defined once on the root: every command accepts it, before or after its name. */
export function dataOption(): Option {
  return new Option('--data <DIR>', `data directory (default: $BERTH_DATA, else ${defaultDataDir({})}); works while "berth serve" runs on it`);
}

/** `--metadata`: where the shared metadata lives (registry/state/metadata-backend.ts). */
export function metadataOption(): Option {
  return new Option(
    '--metadata <URL>',
    'file (state.json in the data directory, the default) or postgres://USER@HOST:PORT/DATABASE shared by several nodes ' +
      '(default: $BERTH_METADATA); the password comes from PGPASSWORD, $BERTH_METADATA_PASSWORD_FILE or ~/.pgpass, never the URL; ' +
      'the keys the nodes share are sealed with the master key in $BERTH_MASTER_KEY_FILE (or $BERTH_MASTER_KEY)',
  );
}

/** `--storage`: where image content lives (registry/storage/storage-backend.ts). */
export function storageOption(): Option {
  return new Option(
    '--storage <URL>',
    'filesystem (the data directory, the default) or s3://BUCKET?endpoint=URL&region=REGION&prefix=PREFIX&encryption=sse-s3|sse-c ' +
      'shared by several nodes (default: $BERTH_STORAGE); credentials come from the AWS environment (AWS_ACCESS_KEY_ID/' +
      'AWS_SECRET_ACCESS_KEY or AWS_PROFILE), never the URL',
  );
}

/** `--json`, for commands that print a table or a report. */
export function jsonOption(description = 'print JSON instead of the table, for scripts and jq'): Option {
  return new Option('--json', description);
}

/** Collects a repeatable option (`--alias a --alias b`) into an array, in order. */
export function repeatable(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** `true|false` (also yes/no, 1/0) for options such as `--anonymous-pull=false`. */
export function booleanValue(flag: string): (text: string) => boolean {
  return (text) => {
    if (text === 'true' || text === 'yes' || text === '1') return true;
    if (text === 'false' || text === 'no' || text === '0') return false;
    throw new CliUsageError(`${flag} needs true or false, e.g. ${flag}=false (got "${text.slice(0, 40)}")`);
  };
}

/**
 * An option the command cannot do without. Checked in the action rather than with commander's requiredOption:
 * commander checks those before unknown options, so `--nmae ci` would be told "missing --name" instead of its typo.
 */
export function requireOption<T>(command: Command, value: T | undefined, long: string): T {
  if (value !== undefined && value !== '') return value;
  const option = command.options.find((opt) => opt.long === long);
  const flags = option ? option.flags.replace(/<([^>]+)>/, '$1') : long;
  return failUsage(command, `missing ${flags}${option?.description ? `: ${option.description}` : ''}`);
}

/** A usage mistake found by the command itself, worded like the parser's own: the sentence, then the usage line. */
export function failUsage(command: Command, sentence: string): never {
  throw new CliUsageError(withUsage(command, sentence));
}

/** Every option of a command and its ancestors (--data lives on the root), typed by the command's own interface. */
export function optionsOf<T extends OptionValues>(command: Command): T & GlobalOptions {
  return command.optsWithGlobals<T & GlobalOptions>();
}

export interface GlobalOptions {
  data?: string;
}

/**
 * Help laid out for people: a group shows every subcommand's full usage first (what to type), then what each does;
 * a command shows its usage, description, options, and the options every command takes.
 */
export function configureHelp(program: Command): void {
  program.configureHelp({
    showGlobalOptions: true,
    subcommandTerm: (command) => command.name(),
    subcommandDescription: (command) => command.summary() || command.description(),
    formatHelp(command, helper) {
      const text = Help.prototype.formatHelp.call(helper, command, helper);
      if (command.commands.length === 0 || command.parent === null) return text;
      const lines = [...(runnable.has(command) ? [command] : []), ...command.commands].map((sub) => `  ${usageLine(sub)}`);
      return text.replace(/^Usage: .*\n/, `Usage:\n${lines.join('\n')}\n`);
    },
  });
}

/** Same exit code for every way of asking for help or the version: those are not errors. */
export function isHelpOrVersion(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help';
}
