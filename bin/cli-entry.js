// Which compiled CLI to run: the one-file bundle (scripts/bundle-cli.mjs, made by `npm run build`), or the modules
// it is made from when the bundle is missing or older than them (a bare `tsc` rebuilt the modules only): never
// yesterday's code. Two stats, a fraction of a millisecond.
import { statSync } from 'node:fs';

const bundle = new URL('../dist/registry/berth-cli.js', import.meta.url);
const modules = new URL('../dist/registry/cli/main.js', import.meta.url);
const modifiedAt = (url) => {
  try {
    return statSync(url).mtimeMs;
  } catch {
    return -1;
  }
};

export const cliEntry = modifiedAt(bundle) >= modifiedAt(modules) ? bundle.href : modules.href;
