#!/usr/bin/env node
// Bundles the compiled CLI (dist/registry/cli/main.js and the ~300 modules it imports) into one file,
// dist/registry/berth-cli.js, which bin/berth.js and bin/start.js run. Node resolves, reads and links every ES module
// on its own, so the unbundled CLI spent about 60 ms of each start on that: every `berth` command and the server's
// start pay it. Packages stay external (node_modules is there at run time), dynamic imports become chunks, so what
// loads lazily (the admin API, node-forge, the S3 client) still does. The file sits beside the modules it replaces,
// so their paths relative to import.meta.url (../../package.json, ../../renderer/dist) hold.
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';

const dist = fileURLToPath(new URL('../dist/registry/', import.meta.url));
// Chunk names carry a hash: the last build's would pile up.
rmSync(`${dist}berth-cli-chunks`, { recursive: true, force: true });
await build({
  input: `${dist}cli/main.js`,
  platform: 'node',
  // Built-ins and packages: everything that is not a relative path.
  external: (id) => !id.startsWith('.') && !id.startsWith('/'),
  output: {
    dir: dist,
    format: 'esm',
    entryFileNames: 'berth-cli.js',
    chunkFileNames: 'berth-cli-chunks/[name]-[hash].js',
    sourcemap: true,
    // V8 keeps each module's source text for as long as the process runs: the comments were half of it, and one
    // non-ASCII character makes the whole text two bytes a character. Without both, an idle `berth serve` holds
    // 0.4 MiB of source instead of 1.5 MiB. Stack traces still map back through the source map.
    comments: false,
    charset: 'ascii',
  },
  logLevel: 'warn',
});
