// What email.mjs and providers.mjs share: the app's page on its own origin,
// and a headless Chromium tab that reports anything going wrong.
import http from 'node:http';
import { chromium } from 'playwright-core';

/** serveApp serves page (HTML) on 127.0.0.1:port to requests whose URL serves(url) accepts (404 to the rest); resolves to the listening server. */
export async function serveApp(port, serves, page) {
  const server = http.createServer((req, res) => {
    if (serves(req.url)) {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(page);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((resolve) => server.listen(Number(port), '127.0.0.1', resolve));
  return server;
}

/**
 * watchedTab launches headless Chromium (executablePath) and opens a tab
 * that pushes onto problems every console error or warning, uncaught page
 * error, failed request, and request to an origin not in origins (data:
 * URLs aside). Resolves to { browser, tab }; the caller closes browser.
 */
export async function watchedTab(executablePath, origins, problems) {
  const browser = await chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  let tab;
  try {
    tab = await browser.newPage();
  } catch (e) {
    await browser.close();
    throw e;
  }
  tab.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  tab.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  tab.on('request', (r) => {
    const url = r.url();
    if (!origins.some((o) => url.startsWith(o + '/')) && !url.startsWith('data:')) problems.push(`request to another origin: ${url}`);
  });
  tab.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
  return { browser, tab };
}
