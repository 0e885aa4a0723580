import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * The GUI is served by Berth at `/ui/` under a strict Content-Security-Policy: everything is bundled
 * (no CDN, no inline script), so the build must not rely on anything outside this directory at runtime.
 */
export default defineConfig({
  root,
  base: '/ui/',
  // Vite 8 transforms TSX with oxc; React 19's automatic runtime means no `import React` in every file.
  oxc: { jsx: { runtime: 'automatic' } },
  build: {
    outDir: fileURLToPath(new URL('./dist', import.meta.url)),
    emptyOutDir: true,
    // Inlined assets become data: URLs; CSP allows data: only for images, so keep fonts/others as files.
    assetsInlineLimit: 0,
    sourcemap: false,
    chunkSizeWarningLimit: 1200,
    rolldownOptions: {
      // Mantine marks its modules 'use client' for React Server Components; meaningless in a client-only bundle.
      onwarn(warning, warn) {
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
    },
  },
  server: {
    // `npx vite --config renderer/vite.config.ts` against a running Berth on the default port.
    proxy: { '/api': 'http://127.0.0.1:5000', '/v2': 'http://127.0.0.1:5000' },
  },
});
