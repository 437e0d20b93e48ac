// The app page for the browser tests: a tiny HTTP server on its own origin
// that serves dist/ and a page exposing createClient as window.authgate.
// authgate runs on another port, so requests are cross-origin with CORS,
// as for a real app.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../harness.mjs';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist');

const page = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>authgate client test app</title></head>
<body><p id="state">loading</p>
<script type="module">
import * as authgate from '/dist/index.js';
window.authgate = authgate;
document.getElementById('state').textContent = 'ready';
</script></body></html>`;

/** startPage serves the app page; resolves to { origin, stop() }. */
export async function startPage() {
  const port = await freePort();
  const server = createServer(async (req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (path === '/' || path === '/index.html') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Security-Policy': "default-src 'self'; script-src 'self' 'unsafe-inline'; connect-src *" });
      res.end(page);
      return;
    }
    if (path === '/favicon.ico') {
      res.writeHead(204);
      res.end();
      return;
    }
    if (path.startsWith('/dist/')) {
      const file = normalize(join(dist, path.slice('/dist/'.length)));
      if (file.startsWith(dist)) {
        try {
          const body = await readFile(file);
          res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' });
          res.end(body);
          return;
        } catch {
          // fall through to 404
        }
      }
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { origin: `http://127.0.0.1:${port}`, stop: () => new Promise((r) => server.close(r)) };
}
