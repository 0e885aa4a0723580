import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Refusal } from '../http/request-guard.js';
import type { Mount } from '../http/request-router.js';

/**
 * Serves the built GUI (`renderer/dist`) at `/ui/`. Client-side routes (`/ui/images/team/app`) fall back to
 * index.html; hashed bundles under `/ui/assets/` are cached for a year, everything else is revalidated. Every
 * answer carries a strict Content-Security-Policy: the bundle needs no inline script, eval or external origin.
 * Mount it after the admin API's mounts, so `/ui/signin` reaches the sign-in handler first.
 * `createRootMount` is the catch-all after every other mount: `/` leads to the GUI, `/favicon.ico` is the app's icon,
 * and any other path is a small HTML 404 page, since what asks for unknown paths outside /v2 is mostly a browser.
 */
export const uiPrefix = '/ui';

export const uiContentSecurityPolicy = [
  "default-src 'self'",
  "img-src 'self' data:",
  // Mantine sets CSS variables in style attributes and one <style> element; no script is inline.
  "style-src 'self' 'unsafe-inline'",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

const securityHeaders = {
  'Content-Security-Policy': uiContentSecurityPolicy,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
};

/** The app's icon, as built from renderer/public/ (an .ico with 16, 32 and 48 px PNGs, and the SVG the GUI links). */
const iconIcoFile = 'favicon.ico';
const iconSvgPath = `${uiPrefix}/favicon.svg`;

function sendText(res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, {
    ...securityHeaders,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...extra,
  });
  res.end(text);
}

/** A request the guard refused (a foreign Host or Origin, see http/request-guard.ts): said in a line of text. */
function refuseAsText(_req: IncomingMessage, res: ServerResponse, refusal: Refusal): void {
  // The refused request's body is not read.
  sendText(res, refusal.status, `${refusal.message}\n`, { Connection: 'close' });
}

const htmlEscapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => htmlEscapes[char] ?? char);
}

/** A small page in the GUI's look (its icon, a way back), so a mistyped link in a browser says what happened. */
function sendNotFoundPage(req: IncomingMessage, res: ServerResponse, pathname: string): void {
  const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<link rel="icon" type="image/svg+xml" href="${iconSvgPath}">
<title>Not found · Berth</title>
<style>body{font-family:system-ui,sans-serif;margin:0;min-height:100vh;display:grid;place-items:center}main{text-align:center;padding:1rem}img{width:64px;height:64px}code{overflow-wrap:anywhere}</style>
</head>
<body>
<main>
<img src="${iconSvgPath}" alt="">
<h1>Not found</h1>
<p>Berth has no page at <code>${escapeHtml(pathname.slice(0, 200))}</code>.</p>
<p><a href="${uiPrefix}/">Open Berth</a></p>
</main>
</body>
</html>
`;
  res.writeHead(404, {
    ...securityHeaders,
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(page),
    'Cache-Control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : page);
}

/** `/ui/assets/a.js` → `<distDir>/assets/a.js`; undefined for anything that would leave distDir. */
function confinedPath(distDir: string, relative: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(relative);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const full = resolve(distDir, `.${decoded.startsWith('/') ? '' : '/'}${decoded}`);
  return full === distDir || full.startsWith(distDir + sep) ? full : undefined;
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const info = await stat(path);
    return info.isFile() ? info.size : undefined;
  } catch {
    return undefined;
  }
}

async function sendFile(req: IncomingMessage, res: ServerResponse, path: string, size: number, cacheControl: string): Promise<void> {
  res.writeHead(200, {
    ...securityHeaders,
    'Content-Type': contentTypes[extname(path).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': size,
    'Cache-Control': cacheControl,
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await pipeline(createReadStream(path), res);
}

export function createUiMount(distDir: string): Mount {
  const root = resolve(distDir);
  const indexPath = resolve(root, 'index.html');
  return {
    prefix: uiPrefix,
    refuse: refuseAsText,
    async handle(req, res, pathname) {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        sendText(res, 405, 'method not allowed', { Allow: 'GET, HEAD' });
        return;
      }
      if (pathname === uiPrefix) {
        res.writeHead(301, { ...securityHeaders, Location: `${uiPrefix}/`, 'Content-Length': 0 });
        res.end();
        return;
      }
      const relative = pathname.slice(uiPrefix.length);
      const path = confinedPath(root, relative);
      if (!path) {
        sendText(res, 400, 'bad path');
        return;
      }
      const size = path === root ? undefined : await fileSize(path);
      if (size !== undefined) {
        // Vite puts a content hash in every name under assets/: those can be cached forever.
        const immutable = relative.startsWith('/assets/');
        await sendFile(req, res, path, size, immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
        return;
      }
      // A missing asset is a real 404 (a stale index.html asking for an old bundle must not get the GUI back).
      if (relative.startsWith('/assets/') || extname(relative) !== '') {
        sendNotFoundPage(req, res, pathname);
        return;
      }
      const indexSize = await fileSize(indexPath);
      if (indexSize === undefined) {
        sendText(res, 503, 'The GUI is not built. Run `npm run build:ui` (vite build --config renderer/vite.config.ts), then reload.');
        return;
      }
      await sendFile(req, res, indexPath, indexSize, 'no-cache');
    },
  };
}

/** The catch-all mount (`/`): the root leads to the GUI, `/favicon.ico` is the app's icon, anything else is a 404 page. */
export function createRootMount(distDir: string): Mount {
  const iconPath = resolve(distDir, iconIcoFile);
  return {
    prefix: '/',
    refuse: refuseAsText,
    async handle(req, res, pathname) {
      if (pathname !== '/' && pathname !== '/favicon.ico') {
        sendNotFoundPage(req, res, pathname);
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        sendText(res, 405, 'method not allowed', { Allow: 'GET, HEAD' });
        return;
      }
      if (pathname === '/') {
        res.writeHead(302, { ...securityHeaders, Location: `${uiPrefix}/`, 'Content-Length': 0 });
        res.end();
        return;
      }
      const size = await fileSize(iconPath);
      // Browsers ask for it on every site they open: a day's caching keeps them from asking on every page.
      if (size !== undefined) await sendFile(req, res, iconPath, size, 'public, max-age=86400');
      else sendNotFoundPage(req, res, pathname);
    },
  };
}
