import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const require = createRequire(import.meta.url);

interface BuilderConfig {
  appId?: string;
  productName?: string;
  files?: string[];
  asarUnpack?: string[];
  extraMetadata?: { main?: string };
  linux?: { target?: string[]; category?: string; maintainer?: string; icon?: string };
  mac?: { target?: string; category?: string; hardenedRuntime?: boolean; icon?: string };
  win?: { target?: string; icon?: string };
  nsis?: { oneClick?: boolean; perMachine?: boolean };
}

interface LoadModule {
  findAndReadConfig(request: { packageKey: string; configFilename: string; projectDir: string }): Promise<{ result: BuilderConfig; configFile: string } | null>;
}

interface ConfigModule {
  validateConfiguration(config: BuilderConfig, debugLogger: { isEnabled: boolean; add(): void }): Promise<void>;
}

/** Width and height from a PNG's IHDR chunk. */
async function pngSize(file: string): Promise<{ width: number; height: number }> {
  const handle = await open(file);
  try {
    const header = Buffer.alloc(24);
    await handle.read(header, 0, 24, 0);
    assert.equal(header.subarray(1, 4).toString('latin1'), 'PNG', `${file} is a PNG`);
    return { width: header.readUInt32BE(16), height: header.readUInt32BE(20) };
  } finally {
    await handle.close();
  }
}

describe('electron-builder.yml', () => {
  it("loads through electron-builder's own loader and passes its schema", async () => {
    // app-builder-lib ships with the electron-builder devDependency: these are the functions `electron-builder`
    // runs to find, read and check its configuration (its higher-level loader also prints to stdout, which
    // would garble the test runner's channel).
    const load = require('app-builder-lib/out/util/config/load.js') as LoadModule;
    const builder = require('app-builder-lib/out/util/config/config.js') as ConfigModule;
    const found = await load.findAndReadConfig({ packageKey: 'build', configFilename: 'electron-builder', projectDir: root });
    assert.ok(found, 'electron-builder finds its configuration');
    assert.equal(found.configFile, join(root, 'electron-builder.yml'));
    const config = found.result;
    await builder.validateConfiguration(config, { isEnabled: false, add() {} });
    assert.equal(config.appId, 'dev.berth.app');
    assert.equal(config.productName, 'Berth');
    assert.equal(config.extraMetadata?.main, 'dist/main/main.js', 'the packaged app starts the Electron shell, where bin/start.js looks too');
    assert.deepEqual(config.linux?.target, ['AppImage', 'deb']);
    assert.equal(config.linux?.category, 'Development');
    assert.ok(config.linux?.maintainer, 'deb needs a maintainer');
    assert.equal(config.mac?.category, 'public.app-category.developer-tools');
    assert.equal(config.mac?.hardenedRuntime, true);
    assert.deepEqual(config.nsis, { oneClick: false, perMachine: false, allowToChangeInstallationDirectory: true });
    assert.deepEqual(config.asarUnpack, ['**/node_modules/better-sqlite3/**'], 'the native metadata index loads from outside the asar');
    const filter = config.files ?? [];
    for (const pattern of ['dist/**/*', '!dist/test{,/**/*}', '!dist/bench{,/**/*}', '!dist/**/*.map', 'renderer/dist/**/*', 'build/tray*.png']) {
      assert.ok(filter.includes(pattern), pattern);
    }
  });

  it('has the icons it names, at the sizes the platforms need', async () => {
    assert.deepEqual(await pngSize(join(root, 'build', 'icon.png')), { width: 512, height: 512 });
    for (const [name, size] of [['tray.png', 16], ['tray@2x.png', 32], ['trayTemplate.png', 16], ['trayTemplate@2x.png', 32]] as const) {
      assert.deepEqual(await pngSize(join(root, 'build', name)), { width: size, height: size }, name);
    }
    assert.ok(existsSync(join(root, 'main', 'tsconfig.json')), 'main/ compiles on its own tsconfig');
  });
});
