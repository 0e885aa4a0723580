#!/usr/bin/env node
// Compiles the Electron shell (main/ → dist/main/) when the optional `electron` package is installed: its type
// declarations come with it, so without it there is nothing to compile against, and `berth` (the CLI and
// headless server) does not need main/ at all. Exits with tsc's status when it runs.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
if (!existsSync(new URL('../node_modules/electron/electron.d.ts', import.meta.url))) {
  console.log('build-main: skipped (the optional electron package is not installed; the desktop app is not built)');
  process.exit(0);
}
const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));
const result = spawnSync(process.execPath, [tsc, '-p', 'main/tsconfig.json'], { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);
