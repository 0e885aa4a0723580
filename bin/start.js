#!/usr/bin/env node
// `npm start`: opens the desktop app when Electron can run here; otherwise serves Berth headless and
// prints the URLs, so the same command works on a laptop, a server and a CI box.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { cliEntry } from './cli-entry.js';

const require = createRequire(import.meta.url);
const args = process.argv.slice(2);

function electronBinary() {
  if (process.env.BERTH_HEADLESS === '1') return undefined;
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) return undefined;
  try {
    const binary = require('electron'); // the package exports the path of its downloaded binary
    return typeof binary === 'string' && existsSync(binary) ? binary : undefined;
  } catch {
    return undefined;
  }
}

const electron = electronBinary();
const mainScript = new URL('../dist/main/main.js', import.meta.url).pathname;
if (electron && existsSync(mainScript)) {
  const child = spawn(electron, [mainScript, ...args], { stdio: 'inherit' });
  child.on('exit', (code, signal) => process.exit(signal ? 1 : (code ?? 0)));
} else {
  console.error('berth: Electron is not available here (no binary or no display): serving headless. Stop with Ctrl-C.');
  process.argv = [process.argv[0], process.argv[1], 'serve', ...args];
  await import(cliEntry);
}
