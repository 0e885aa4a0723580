import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createContext, Script } from 'node:vm';
import ts from 'typescript';
import { ipcChannels, versionArgumentPrefix } from '../../main/ipc-channels.js';

const mainDir = fileURLToPath(new URL('../../../main/', import.meta.url));

/**
 * Runs the preload the way a sandboxed Electron renderer does: compiled to CommonJS and evaluated in a fresh
 * context inside Electron's wrapper, where `require` knows only 'electron'. The electron module here records
 * what the preload exposes and invokes; Electron itself cannot run on this machine.
 */
async function runPreload(argv: string[]) {
  const source = await readFile(join(mainDir, 'preload.cts'), 'utf8');
  const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } });
  const exposed = new Map<string, unknown>();
  const invoked: unknown[][] = [];
  const required: string[] = [];
  const electron = {
    contextBridge: { exposeInMainWorld: (key: string, api: unknown) => exposed.set(key, api) },
    ipcRenderer: {
      invoke: (channel: string, ...args: unknown[]) => {
        invoked.push([channel, ...args]);
        return Promise.resolve(undefined);
      },
    },
  };
  const sandboxRequire = (name: string) => {
    required.push(name);
    if (name === 'electron') return electron;
    throw new Error(`a sandboxed preload cannot require ${name}`);
  };
  const wrapper = new Script(`(function (require, process, Buffer, global, setImmediate, clearImmediate, exports, module) {\n${outputText}\n})`);
  const run = wrapper.runInContext(createContext({})) as (...args: unknown[]) => void;
  const module = { exports: {} };
  run(sandboxRequire, { argv, platform: 'linux' }, undefined, {}, undefined, undefined, module.exports, module);
  return { exposed, invoked, required };
}

describe('preload (sandboxed)', () => {
  it('needs nothing but electron, and exposes only window.berth', async () => {
    const { exposed, required } = await runPreload([]);
    assert.deepEqual(required, ['electron']);
    assert.deepEqual([...exposed.keys()], ['berth']);
    const berth = exposed.get('berth') as Record<string, unknown>;
    assert.deepEqual(Object.keys(berth).sort(), ['copyToClipboard', 'openExternal', 'platform', 'version']);
    assert.equal(Object.values(berth).some((value) => typeof value === 'object' && value !== null), false, 'no raw ipcRenderer or objects');
  });

  it('reads the version from its argument and calls the channels of the shared table', async () => {
    const { exposed, invoked } = await runPreload(['/electron', `${versionArgumentPrefix}1.2.3`]);
    const berth = exposed.get('berth') as { version: string; copyToClipboard(t: unknown): Promise<void>; openExternal(u: unknown): Promise<void> };
    assert.equal(berth.version, '1.2.3');
    await berth.copyToClipboard('docker login 127.0.0.1:5000 -u ci');
    await berth.openExternal({ toString: () => 'https://example.com/' });
    assert.deepEqual(invoked, [
      [ipcChannels.copyToClipboard, 'docker login 127.0.0.1:5000 -u ci'],
      [ipcChannels.openExternal, 'https://example.com/'],
    ], 'arguments are passed as strings, never as page objects');
  });
});

describe('main/ layering', () => {
  async function sources(dir: string): Promise<string[]> {
    const entries = await readdir(dir, { withFileTypes: true, recursive: true });
    return entries.filter((e) => e.isFile() && /\.c?ts$/.test(e.name)).map((e) => join(e.parentPath, e.name));
  }
  const importsElectron = (text: string) => /from 'electron'|require\('electron'\)|import\('electron'\)/.test(text);

  it('keeps Electron out of main/logic and registry/, so both run and are tested in plain Node', async () => {
    for (const file of [...(await sources(join(mainDir, 'logic'))), ...(await sources(join(mainDir, '..', 'registry')))]) {
      assert.equal(importsElectron(await readFile(file, 'utf8')), false, file);
    }
  });

  it('lets only the thin shell files touch Electron', async () => {
    const touching: string[] = [];
    for (const file of await sources(mainDir)) if (importsElectron(await readFile(file, 'utf8'))) touching.push(file.slice(mainDir.length));
    assert.deepEqual(touching.sort(), ['content-security.ts', 'ipc.ts', 'login-item.ts', 'main.ts', 'preload.cts', 'tray.ts', 'window.ts']);
  });
});
