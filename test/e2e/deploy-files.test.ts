import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { defaultDataDir } from '../../registry/config/data-dir.js';
import { publicUrlEnv } from '../../registry/config/public-url.js';
import { masterKeyEnv, masterKeyFileEnv } from '../../registry/state/master-key.js';
import { metadataEnv, metadataPasswordFileEnv } from '../../registry/state/metadata-backend.js';
import { storageEnv } from '../../registry/storage/storage-backend.js';
import { encryptionKeyFileEnv } from '../../registry/storage/encryption/key-ring.js';
import { encryptionChoiceEnv } from '../../registry/storage/encryption/new-deployment.js';
import { berthBin } from '../support/berth-process.js';
import { probe } from '../support/net.js';
import { makeTempDir } from '../support/temp-dir.js';
import { haproxyConfig, haproxySkipReason, haproxyTool, requireHaproxy } from '../support/services/haproxy.js';
import { requireTools, run, runOk, toolSkipReason, trackChild, type ToolRequirement } from '../support/tools.js';

/**
 * The Containerfile and the systemd unit, checked as far as this machine can without running a container engine's
 * build (no registry to pull the base image from) or systemd as PID 1: the unit passes `systemd-analyze verify` and
 * its hardening scores "OK" in `systemd-analyze security`; the exact `berth` command lines of both start a real
 * server that answers (so every flag they use exists and fits together); every BERTH_ variable they set is one
 * Berth reads; and the image, which copies only dist/registry, needs nothing outside it.
 */

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const unitPath = join(repoRoot, 'deploy', 'berth.service');
const containerfilePath = join(repoRoot, 'Containerfile');
const readmePath = join(repoRoot, 'README.md');

/** The README's "Run a team registry" section. */
function teamRegistrySection(): string {
  const readme = readFileSync(readmePath, 'utf8');
  const start = readme.indexOf('## Run a team registry');
  assert.ok(start >= 0, 'the README has a "Run a team registry" section');
  return readme.slice(start, readme.indexOf('\n## ', start + 3));
}
const systemdAnalyze: ToolRequirement = { name: 'systemd-analyze', debianPackage: 'systemd' };

/** The BERTH_ variables Berth reads (the constants where they are read), plus the unit's own BERTH_LISTEN. */
const knownVariables = new Set([metadataEnv, metadataPasswordFileEnv, storageEnv, masterKeyFileEnv, masterKeyEnv, publicUrlEnv, encryptionChoiceEnv, encryptionKeyFileEnv, 'BERTH_DATA', 'BERTH_LISTEN']);

/** `Key=value` lines of a unit file (comments and sections left out). */
function unitSettings(text: string): [string, string][] {
  return text
    .split('\n')
    .filter((line) => /^[A-Za-z]+=/.test(line))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]);
}

/** The value of a one-line Containerfile instruction of the last stage (`USER`, `VOLUME`, ...), or of all stages. */
function instructions(text: string, name: string): string[] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((line) => line.startsWith(`${name} `))
    .map((line) => line.slice(name.length + 1).trim());
}

function lastStage(text: string): string {
  return text.slice(text.lastIndexOf('\nFROM '));
}

test('deploy/berth.service passes systemd-analyze verify, and its hardening rates OK', { skip: toolSkipReason(systemdAnalyze) }, async (t) => {
  requireTools(systemdAnalyze);
  const dir = await makeTempDir(t);
  const unit = join(dir, 'berth.service');
  let text = await readFile(unitPath, 'utf8');
  // verify insists that ExecStart's binary exists: where a CI machine's node lives elsewhere, point it there.
  if (!existsSync('/usr/bin/node')) text = text.replace('ExecStart=/usr/bin/node ', `ExecStart=${process.execPath} `);
  await writeFile(unit, text);
  const verify = await run(systemdAnalyze.name, ['verify', unit], { timeoutMs: 30_000 });
  assert.equal(verify.code, 0, verify.stderr);
  // verify exits 0 on unknown keys and bad values too; it only says so.
  assert.equal(verify.stderr.trim(), '', `systemd-analyze verify complained:\n${verify.stderr}`);

  const security = await run(systemdAnalyze.name, ['security', '--offline=true', '--no-pager', unit], { timeoutMs: 30_000 });
  const exposure = /Overall exposure level for berth\.service: ([\d.]+) (\w+)/.exec(`${security.stdout}${security.stderr}`);
  assert.ok(exposure, `no exposure level in:\n${security.stdout}${security.stderr}`);
  t.diagnostic(`systemd-analyze security: exposure ${exposure[1]} ${exposure[2]}`);
  assert.ok(Number(exposure[1]) <= 2, `exposure ${exposure[1]} ${exposure[2]}: the hardening lost settings`);

  const settings = unitSettings(text);
  const values = (key: string) => settings.filter(([name]) => name === key).map(([, value]) => value);
  assert.deepEqual(values('StateDirectory'), ['berth']);
  assert.deepEqual(values('EnvironmentFile'), ['/etc/berth/berth.env']);
  assert.deepEqual(values('NoNewPrivileges'), ['yes']);
  assert.deepEqual(values('ProtectSystem'), ['strict']);
  assert.deepEqual(values('PrivateTmp'), ['yes']);
  assert.ok(values('DynamicUser').includes('yes') || values('User').length > 0, 'not root');
  // The master key and the database password reach Berth as owner-only credential files, never as values.
  assert.ok(values('Environment').includes(`${masterKeyFileEnv}=%d/master.key`));
  assert.ok(values('Environment').includes(`${metadataPasswordFileEnv}=%d/pg-password`));
  assert.deepEqual(values('LoadCredential'), ['master.key:/etc/berth/master.key', 'pg-password:/etc/berth/pg-password']);
});

test('the unit, the Containerfile and the README section name only BERTH_ variables that Berth reads', async () => {
  for (const [path, text] of [[unitPath, readFileSync(unitPath, 'utf8')], [containerfilePath, readFileSync(containerfilePath, 'utf8')], [readmePath, teamRegistrySection()]]) {
    const used = new Set([...(text ?? '').matchAll(/\bBERTH_[A-Z_]+\b/g)].map((match) => match[0]));
    assert.ok(used.size > 0, path);
    for (const variable of used) assert.ok(knownVariables.has(variable), `${path} names ${variable}, which Berth does not read`);
  }
  // BERTH_DATA is the data directory (the unit's StateDirectory, the image's volume).
  assert.equal(defaultDataDir({ BERTH_DATA: '/var/lib/berth' }), '/var/lib/berth');
});

test('the Containerfile: Node 20 on Debian 12, npm ci --omit=dev, a non-root user, the data directory a volume', async () => {
  const text = await readFile(containerfilePath, 'utf8');
  for (const from of instructions(text, 'FROM')) assert.match(from, /^docker\.io\/library\/node:20-bookworm-slim\b/);
  assert.ok(instructions(text, 'RUN').some((run) => /npm ci --omit=dev\b/.test(run)), 'the image installs the production dependencies only');
  const final = lastStage(text);
  const user = instructions(final, 'USER');
  assert.deepEqual(user, ['berth']);
  assert.match(final, /useradd --system --uid 10001/);
  const env = instructions(final, 'ENV').join(' ');
  assert.match(env, /BERTH_DATA=\/var\/lib\/berth/);
  assert.deepEqual(instructions(final, 'VOLUME'), ['/var/lib/berth']);
  const cmd = JSON.parse(instructions(final, 'CMD')[0] ?? '[]') as string[];
  const listen = cmd[cmd.indexOf('--listen') + 1] ?? '';
  assert.deepEqual(instructions(final, 'EXPOSE'), [listen.split(':').at(-1)], 'EXPOSE is the port berth serve listens on');
  assert.deepEqual(JSON.parse(instructions(final, 'ENTRYPOINT')[0] ?? '[]'), ['node', '/opt/berth/bin/berth.js']);
  // What the last stage copies out of the build exists in a built checkout; the GUI's files come from npm run build.
  for (const match of final.matchAll(/^COPY --from=build \/src\/(\S+) /gm)) {
    const source = match[1] ?? '';
    if (source !== 'renderer/dist') assert.ok(existsSync(join(repoRoot, source)), `COPY --from=build ${source}: not in a built checkout`);
  }
  // npm run build compiles, bundles the CLI that bin/berth.js runs (scripts/bundle-cli.mjs) and builds the GUI.
  assert.match(readFileSync(join(repoRoot, 'package.json'), 'utf8'), /"build": "tsc -p tsconfig.json && node scripts\/bundle-cli.mjs && npm run build:ui/);
  // The image holds dist/registry only: nothing there may import from elsewhere in dist/.
  const registryDir = join(repoRoot, 'dist', 'registry');
  const outside: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (path.endsWith('.js')) {
        for (const found of readFileSync(path, 'utf8').matchAll(/(?:from|import\()\s*['"](\.[^'"]+)['"]/g)) {
          const target = resolve(dirname(path), found[1] ?? '');
          if (!target.startsWith(`${registryDir}/`)) outside.push(`${path} imports ${found[1]}`);
        }
      }
    }
  };
  walk(registryDir);
  assert.deepEqual(outside, []);
});

test("the README's haproxy.cfg is valid for haproxy and balances like the tests' balancer", { skip: haproxySkipReason() ?? toolSkipReason('openssl') }, async (t) => {
  requireHaproxy();
  requireTools('openssl');
  const block = /```haproxy\n([\s\S]*?)```/.exec(teamRegistrySection())?.[1];
  assert.ok(block, 'the section has a haproxy.cfg block');
  const config = block.replace(/^ {3}/gm, '');
  // The tests' balancer (test/support/services/haproxy.ts) does what the README tells operators to do.
  const tested = haproxyConfig({ port: 1, backends: ['127.0.0.1:2'], statsSocket: '/nonexistent' });
  for (const directive of ['balance roundrobin', 'option http-server-close', 'option redispatch 1', 'option httpchk GET /v2/', 'http-check expect status 200,401', 'timeout client 1h', 'timeout server 1h']) {
    assert.ok(config.includes(directive), `the README's haproxy.cfg has ${directive}`);
    assert.ok(tested.includes(directive), `the tests' haproxy.cfg has ${directive}`);
  }
  // The realm comes from the nodes' BERTH_PUBLIC_URL (as in the tests' cluster): nothing rewrites it.
  assert.doesNotMatch(config, /WWW-Authenticate/);
  // A throwaway certificate where the README's would be.
  const dir = await makeTempDir(t);
  await runOk('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=registry.example.lan', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'crt.pem')]);
  await writeFile(join(dir, 'registry.pem'), `${await readFile(join(dir, 'crt.pem'), 'utf8')}${await readFile(join(dir, 'key.pem'), 'utf8')}`, { mode: 0o600 });
  await writeFile(join(dir, 'haproxy.cfg'), config.replace('/etc/haproxy/registry.pem', join(dir, 'registry.pem')));
  const checked = await run(haproxyTool.name, ['-c', '-f', join(dir, 'haproxy.cfg')], { timeoutMs: 30_000 });
  assert.equal(checked.code, 0, `haproxy -c:\n${checked.stdout}${checked.stderr}`);
  assert.doesNotMatch(`${checked.stdout}${checked.stderr}`, /\[WARNING\]/, 'haproxy -c warns');
});

test("the unit's ExecStart and the Containerfile's CMD start a berth serve that answers", { timeout: 60_000 }, async (t) => {
  const unitExec = unitSettings(await readFile(unitPath, 'utf8')).find(([key]) => key === 'ExecStart')?.[1] ?? '';
  const [node, script, ...unitArgs] = unitExec.split(/\s+/);
  assert.deepEqual([node, script], ['/usr/bin/node', '/opt/berth/bin/berth.js']);
  const final = lastStage(await readFile(containerfilePath, 'utf8'));
  const cmdArgs = JSON.parse(instructions(final, 'CMD')[0] ?? '[]') as string[];
  // Both listen off loopback (the balancer is elsewhere), which Berth refuses for plain HTTP unless forced.
  for (const args of [unitArgs, cmdArgs]) assert.ok(args.includes('--force-plain-http'), `${args.join(' ')}: a non-loopback --listen needs --force-plain-http`);
  // The listen address is the only thing that differs here (tests listen on loopback only): a free port on loopback.
  const unitListen = unitArgs.map((arg) => (arg === '${BERTH_LISTEN}' ? '127.0.0.1:0' : arg));
  const imageListen = cmdArgs.map((arg) => (arg === '0.0.0.0:5000' ? '127.0.0.1:0' : arg));
  for (const [label, args] of [['unit', unitListen], ['Containerfile', imageListen]] as const) {
    const dataDir = await makeTempDir(t);
    const url = await serveUntilReady(t, args, { BERTH_DATA: dataDir });
    // Token auth, the default: an anonymous /v2/ is challenged, as haproxy's health check expects.
    assert.equal(await probe(`${url}/v2/`), 401, `${label}: berth serve ${args.join(' ')}`);
    assert.ok(existsSync(join(dataDir, 'auth')), `${label}: the data directory is BERTH_DATA's`);
  }
});

/** Runs `berth ARGS` (a server), resolves with the URL of its ready line; the server is stopped after the test. */
async function serveUntilReady(t: TestContext, args: readonly string[], env: Record<string, string>): Promise<string> {
  const child = spawn(process.execPath, [berthBin, ...args], {
    env: { ...process.env, BERTH_METADATA: '', BERTH_STORAGE: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(child);
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  t.after(async () => {
    child.kill('SIGTERM');
    assert.equal(await exited, 0, 'berth serve stops cleanly on SIGTERM');
  });
  let output = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  return await new Promise<string>((resolveUrl, reject) => {
    let partial = '';
    const timer = setTimeout(() => reject(new Error(`no ready line within 30 s:\n${output}`)), 30_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        // --log-format json: one object per line.
        const parsed = JSON.parse(line) as { msg?: string; url?: string };
        if (parsed.msg === 'berth ready' && parsed.url) {
          clearTimeout(timer);
          resolveUrl(parsed.url.replace(/\/$/, ''));
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`berth ${args.join(' ')} exited (${code ?? 'signal'}) before it was ready:\n${output}`));
    });
  });
}

