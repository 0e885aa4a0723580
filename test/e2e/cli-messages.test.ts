import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTempDir } from '../support/temp-dir.js';
import { berthCli, berthCliOk } from './mirror-fixture.js';

/**
 * How the real `berth` binary answers mistakes: one sentence that says what to do, the usage line where the
 * command line was wrong, exit 2 for those and 1 for failures, never a stack trace or parser jargon.
 */

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function usageError(args: readonly string[]): Promise<string> {
  const result = await berthCli(args);
  assert.equal(result.code, 2, `berth ${args.join(' ')}: expected exit 2\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  assert.equal(result.stdout, '', 'nothing on stdout');
  assert.doesNotMatch(result.stderr, /    at |positional|ERR_PARSE_ARGS|TypeError|berth: berth /, `no jargon, no stack, no doubled prefix:\n${result.stderr}`);
  return result.stderr;
}

test('a mistyped flag is named, with a suggestion and the usage line', async (t) => {
  const data = await makeTempDir(t);
  assert.equal(
    await usageError(['token', 'create', '--name', 'ci', '--scoep', 'team/*:pull', '--data', data]),
    [
      'berth: unknown option --scoep (did you mean --scope?)',
      'Usage: berth token create --name NAME --scope PATTERN:ACTIONS [--scope ...] [--expires DURATION]',
      'Run "berth token create --help" for the options.',
      '',
    ].join('\n'),
  );
  assert.match(await usageError(['sync', 'list', '--jsno', '--data', data]), /^berth: unknown option --jsno \(did you mean --json\?\)\nUsage: berth sync list \[--json\]$/m);
  assert.match(await usageError(['serve', '--listne', '127.0.0.1:0', '--data', data]), /^berth: unknown option --listne \(did you mean --listen\?\)\nUsage: berth serve /m);
  assert.match(await usageError(['imgae', 'list']), /^berth: unknown command "imgae" \(did you mean image\?\): run "berth --help" for the list$/m);
  assert.match(await usageError(['image', 'lsit']), /^berth: unknown image command "lsit": use list, inspect, rm or cp$/m);
  assert.ok(!existsSync(join(data, 'state.json')), 'a refused command line changes nothing');
});

test('a missing argument or value says which one and what it is', async (t) => {
  const data = await makeTempDir(t);
  assert.match(await usageError(['sync', 'run', '--data', data]), /^berth: missing the sync RULE name: see "berth sync list"\nUsage: berth sync run RULE$/m);
  assert.match(await usageError(['image', 'cp', 'team/app:1', '--data', data]), /^berth: missing where to, e.g. team\/redis:7 .*\nUsage: berth image cp SOURCE DESTINATION$/m);
  assert.match(await usageError(['upstream', 'test', '--data', data]), /^berth: missing the upstream NAME, also its local namespace \(hub, ghcr\)$/m);
  assert.match(await usageError(['token', 'create', '--name', 'ci', '--data', data]), /^berth: missing --scope PATTERN:ACTIONS: what it may do/m);
  assert.match(await usageError(['audit', '--since', '--data', data]), /^berth: --since needs a value: how far back: 24h, 7d, \.\.\. or a date such as 2030-01-31 \(default: everything\)\nUsage: berth audit /m);
  assert.match(await usageError(['gc', '--grace', '--data', data]), /^berth: --grace needs a value: spare what was uploaded or linked less than DURATION ago/m);
  assert.match(await usageError(['token', 'revoke', 'a', 'b', '--data', data]), /^berth: unexpected argument "b"\nUsage: berth token revoke NAME$/m);
});

test('--data naming a file is a usage error that says so, for commands that read, write and serve', async (t) => {
  const dir = await makeTempDir(t);
  const file = join(dir, 'not-a-directory');
  await writeFile(file, 'x');
  for (const args of [['token', 'list'], ['namespace', 'create', 'team'], ['image', 'list'], ['serve', '--listen', '127.0.0.1:0', '--tls-listen', 'off']]) {
    const stderr = await usageError([...args, '--data', file]);
    assert.match(stderr, new RegExp(`^berth: --data ${escape(file)} is a file, not a directory: pass the directory Berth keeps its data in \\(default /.+\\)\n$`));
    assert.doesNotMatch(stderr, /EEXIST|ENOTDIR|mkdir/);
  }
  assert.match(await usageError(['token', 'list', '--data', join(file, 'below')]), new RegExp(`^berth: --data ${escape(file)}/below: ${escape(file)} is a file, not a directory`, 'm'));
  assert.match(await usageError(['token', 'list', '--data', '/etc/passwd']), /^berth: --data \/etc\/passwd is a file, not a directory/m);
  assert.equal(await readFile(file, 'utf8'), 'x');
});

test('--scope team:pull is refused as ambiguous and the namespace form is offered; exact repositories and namespaces work', async (t) => {
  const data = await makeTempDir(t);
  const stderr = await usageError(['token', 'create', '--name', 'ci', '--scope', 'team:pull', '--data', data]);
  assert.match(stderr, /^berth: scope "team:pull" is ambiguous: "team" without a slash is the single repository team, not the namespace; did you mean team\/\*:pull \(the namespace team and everything in it, team itself included\)\?$/m);
  assert.deepEqual(JSON.parse(await berthCliOk(['token', 'list', '--json', '--data', data])), [], 'no token was created');
  await berthCliOk(['token', 'create', '--name', 'ns', '--scope', 'team/*:pull', '--data', data]);
  await berthCliOk(['token', 'create', '--name', 'repo', '--scope', 'team/app:pull,push', '--data', data]);
  const scopes = (JSON.parse(await berthCliOk(['token', 'list', '--json', '--data', data])) as Array<{ name: string; scopes: string[] }>).map((token) => [token.name, token.scopes]);
  assert.deepEqual(scopes, [['ns', ['team/*:pull']], ['repo', ['team/app:pull,push']]]);
});

test('durations read as people write them: 1d, 6h, 1h30m, 5m', async (t) => {
  const data = await makeTempDir(t);
  await berthCliOk(['upstream', 'add', 'up', 'http://127.0.0.1:9', '--tag-ttl', '90m', '--data', data]);
  await berthCliOk(['upstream', 'add', 'other', 'http://127.0.0.2:9', '--data', data]);
  assert.match(await berthCliOk(['sync', 'add', 'daily', '--upstream', 'up', '--repo', 'library/a', '--every', '86400s', '--data', data]), /, every 1d$/m);
  await berthCliOk(['sync', 'add', 'often', '--upstream', 'up', '--repo', 'library/b', '--every', '6h', '--data', data]);
  await berthCliOk(['sync', 'add', 'odd', '--upstream', 'up', '--repo', 'library/c', '--every', '90m', '--data', data]);
  const rules = await berthCliOk(['sync', 'list', '--data', data]);
  assert.match(rules, /^daily\s+up\s+library\/a\s+up\s+1d\s+active\s/m);
  assert.match(rules, /^often\s+up\s+library\/b\s+up\s+6h\s+active\s/m);
  assert.match(rules, /^odd\s+up\s+library\/c\s+up\s+1h30m\s+active\s/m);
  assert.doesNotMatch(rules, /\d+s\s/, 'no raw seconds');
  const upstreams = await berthCliOk(['upstream', 'list', '--data', data]);
  assert.match(upstreams, /^up\s+\S+\s+-\s+no\s+no\s+no\s+1h30m\s/m);
  assert.match(upstreams, /^other\s+\S+\s+-\s+no\s+no\s+no\s+5m\s/m);
  // The JSON keeps the numbers scripts compute with.
  assert.equal((JSON.parse(await berthCliOk(['sync', 'list', '--json', '--data', data])) as Array<{ everySeconds: number }>)[0]?.everySeconds, 86_400);
  assert.ok((await readdir(data)).includes('state.json'));
});
