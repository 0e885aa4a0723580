import type { Command } from 'commander';
import { isRepositoryName } from '../../core/names.js';
import { tagPatternsProblem } from '../../lifecycle/immutable-tags.js';
import { updatePolicy } from '../../lifecycle/policies.js';
import { namespaceOf } from '../../core/names.js';
import { CliUsageError } from '../cli-error.js';
import { auditAdmin, dataDirOf, formatTable, metadataOf, openState, requireDataDir } from '../admin-support.js';
import { group, jsonOption, leaf, optionsOf } from '../command-kit.js';

/** A namespace (`team`) or one repository in it (`team/app`). */
function checkScope(scope: string): string {
  if (!isRepositoryName(scope)) throw new CliUsageError(`invalid scope "${scope.slice(0, 120)}": a namespace (team) or a repository (team/app)`);
  return scope;
}

function checkPattern(pattern: string): string {
  const problem = tagPatternsProblem([pattern]);
  if (problem) throw new CliUsageError(problem);
  return pattern;
}

async function change(rawScope: string, rawPattern: string, command: Command, adding: boolean): Promise<void> {
  const scope = checkScope(rawScope);
  const pattern = checkPattern(rawPattern);
  const dataDir = dataDirOf(command);
  requireDataDir(dataDir);
  const store = await openState(dataDir, metadataOf(command));
  let patterns: string[] = [];
  let changed = false;
  try {
    await store.update((draft) => {
      const before = draft.policies.find((record) => record.scope === scope)?.immutableTags ?? [];
      patterns = adding ? [...new Set([...before, pattern])] : before.filter((existing) => existing !== pattern);
      changed = patterns.length !== before.length;
      if (!adding && !changed) throw new Error(`"${pattern}" is not an immutable tag pattern of ${scope}: see "berth immutable list ${scope}"`);
      const problem = tagPatternsProblem(patterns);
      if (problem) throw new CliUsageError(problem);
      updatePolicy(draft, scope, { immutableTags: patterns.length > 0 ? patterns : undefined });
    });
  } finally {
    await store.close();
  }
  if (changed) {
    await auditAdmin(dataDir, metadataOf(command), {
      action: 'immutable.update',
      namespace: namespaceOf(scope),
      ...(scope.includes('/') ? { repository: scope } : {}),
      detail: { [adding ? 'added' : 'removed']: pattern, patterns },
    });
  }
  const now = patterns.length > 0 ? patterns.map((p) => `"${p}"`).join(', ') : 'none';
  console.log(`${scope}: immutable tag patterns ${now}${changed ? '' : ' (unchanged)'}.`);
}

async function list(rawScope: string | undefined, command: Command): Promise<void> {
  const values = optionsOf<{ json?: boolean }>(command);
  const scope = rawScope === undefined ? undefined : checkScope(rawScope);
  const dataDir = dataDirOf(command);
  requireDataDir(dataDir);
  const store = await openState(dataDir, metadataOf(command));
  try {
    const records = store
      .read()
      .policies.filter((record) => (record.immutableTags?.length ?? 0) > 0)
      .filter((record) => scope === undefined || record.scope === scope || (!scope.includes('/') && namespaceOf(record.scope) === scope))
      .map((record) => ({ scope: record.scope, patterns: [...(record.immutableTags ?? [])] }))
      .sort((a, b) => (a.scope < b.scope ? -1 : a.scope > b.scope ? 1 : 0));
    if (values.json) {
      console.log(JSON.stringify(records, null, 2));
      return;
    }
    if (records.length === 0) {
      console.log(`No immutable tag patterns${scope ? ` for ${scope}` : ''}. Add one with: berth immutable add ${scope ?? 'team'} 'v*'`);
      return;
    }
    console.log(formatTable(['SCOPE', 'PATTERNS'], records.map((record) => [record.scope, record.patterns.join(' ')])));
  } finally {
    await store.close();
  }
}

export function registerImmutableCommands(program: Command): void {
  const immutable = group(
    program,
    'immutable',
    'tag patterns that, once pushed, cannot be moved or deleted',
    'A tag matching an immutable pattern of its namespace or repository (`*` matches anything: v*, release-*, *) keeps ' +
      'the digest it was first pushed with: a push of another digest to it, or a delete of it, is refused (DENIED). ' +
      'Pushing the same digest again is fine. Mirror namespaces are exempt: their tags follow the upstream.',
  );
  immutable.addHelpText('after', `
Examples:
  berth immutable add team 'v*'
  berth immutable add team/app release-*
  berth immutable list
  berth immutable remove team 'v*'`);
  const scopeArgument = 'the SCOPE: a namespace (team) or a repository (team/app)';
  const patternArgument = 'the PATTERN: a tag with * wildcards (quote it in the shell)';
  leaf(immutable, 'add', 'SCOPE PATTERN', 'makes the tags matching PATTERN immutable in SCOPE')
    .argument('<SCOPE>', scopeArgument)
    .argument('<PATTERN>', patternArgument)
    .action((scope: string, pattern: string, _options, command: Command) => change(scope, pattern, command, true));
  leaf(immutable, 'remove', 'SCOPE PATTERN', 'removes a pattern: its tags can be moved and deleted again')
    .alias('rm')
    .argument('<SCOPE>', scopeArgument)
    .argument('<PATTERN>', patternArgument)
    .action((scope: string, pattern: string, _options, command: Command) => change(scope, pattern, command, false));
  leaf(immutable, 'list', '[SCOPE] [--json]', 'the immutable tag patterns of every scope, or of one namespace or repository')
    .alias('ls')
    .argument('[SCOPE]', 'only this namespace (and its repositories) or repository')
    .addOption(jsonOption())
    .action((scope: string | undefined, _options, command: Command) => list(scope, command));
}
