import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';

/**
 * The ceiling for manifest GETs: a bare node:http server that answers one manifest from memory, with the
 * headers a registry sends. Run as a child process by bench/run.ts:
 *   node dist/bench/manifest-server.js MANIFEST_FILE MEDIA_TYPE
 * It prints one JSON line `{"msg":"ready","url":"http://127.0.0.1:PORT"}` and serves until killed.
 */

const [file, mediaType] = process.argv.slice(2);
if (!file || !mediaType) {
  process.stderr.write('usage: manifest-server MANIFEST_FILE MEDIA_TYPE\n');
  process.exit(2);
}
const body = readFileSync(file);
const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
const headers = {
  'content-type': mediaType,
  'content-length': String(body.length),
  'docker-content-digest': digest,
  etag: `"${digest}"`,
  'docker-distribution-api-version': 'registry/2.0',
};
const manifestPath = /^\/v2\/.+\/manifests\/[^/]+$/;

const server = createServer((req, res) => {
  if ((req.method === 'GET' || req.method === 'HEAD') && manifestPath.test(req.url ?? '')) {
    res.writeHead(200, headers);
    res.end(req.method === 'GET' ? body : undefined);
    return;
  }
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  process.stdout.write(`${JSON.stringify({ msg: 'ready', url: `http://127.0.0.1:${port}` })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
