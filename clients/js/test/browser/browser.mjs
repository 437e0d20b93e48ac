// Shared parts of the browser tests: Debian's Chromium driven by
// playwright-core, a context (one browser profile) whose tabs fail the test
// on any console error, page error or request to an origin other than the
// app's and authgate's, and the in-page driver each tab runs.
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const artifacts = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test-artifacts');

/** launch starts headless Chromium ($CHROMIUM, default /usr/bin/chromium). */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/**
 * profile opens a browser context whose pages are watched: problems collects
 * console errors, page errors, failed requests and requests to other origins;
 * requests counts authgate's GraphQL requests, refreshes its refresh mutations.
 */
export async function profile(browser, { app, server, initScript }) {
  const ctx = await browser.newContext();
  if (initScript) await ctx.addInitScript(initScript);
  const watch = { problems: [], requests: 0, refreshes: 0, refreshAnswers: [] };
  const allowed = [app.origin + '/', server.base + '/'];
  ctx.on('request', (r) => {
    const url = r.url();
    if (!allowed.some((o) => url.startsWith(o))) watch.problems.push(`request to another origin: ${url}`);
    if (url === server.url && r.method() === 'POST') {
      watch.requests++;
      if ((r.postData() || '').includes('refreshToken(refreshToken')) watch.refreshes++;
    }
  });
  ctx.on('requestfailed', (r) => watch.problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
  ctx.on('response', async (res) => {
    const body = res.request().postData() || '';
    if (res.url() === server.url && /refreshToken\(|login\(|signup\(/.test(body)) {
      try {
        watch.refreshAnswers.push(await res.text());
      } catch {
        // the page went away
      }
    }
  });
  const open = async () => {
    const page = await ctx.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') watch.problems.push(`console error: ${m.text()}`);
    });
    page.on('pageerror', (e) => watch.problems.push(`page error: ${e.message}`));
    await page.goto(app.origin + '/');
    await page.waitForFunction(() => window.authgate);
    await page.evaluate(driver);
    return page;
  };
  return { ctx, watch, open };
}

/** driver runs in each tab: window.start makes the client, window.work keeps making requests. */
function driver() {
  window.start = (url, options) => {
    const client = window.authgate.createClient({ url, ...options });
    window.client = client;
    window.stats = { ok: 0, failed: 0, errors: [], events: [] };
    client.onAuthStateChange((event) => window.stats.events.push(event));
    return client.getSession().then((s) => s?.sessionId ?? null);
  };
  window.work = (until, gap) => {
    window.working = (async () => {
      while (Date.now() < until) {
        try {
          const data = await window.client.graphql('query { me { id } }');
          if (!data.me?.id) throw new Error('no me.id');
          window.stats.ok++;
        } catch (e) {
          window.stats.failed++;
          if (window.stats.errors.length < 5) window.stats.errors.push(`${e.code}: ${e.message}`);
        }
        document.getElementById('state').textContent = JSON.stringify(window.stats);
        await new Promise((r) => setTimeout(r, gap));
      }
      return window.stats;
    })();
  };
}

/** audit reads the server's own count of a session's rotations, grace replays and reuse detections, and whether it is revoked. */
export function audit(server, sessionId) {
  const out = execFileSync('psql', [server.db, '-qtAc', `SELECT
      (SELECT count(*) FROM auth.audit_events WHERE session_id = '${sessionId}' AND event = 'refresh' AND NOT detail ? 'replayed'),
      (SELECT count(*) FROM auth.audit_events WHERE session_id = '${sessionId}' AND event = 'refresh' AND detail ? 'replayed'),
      (SELECT count(*) FROM auth.audit_events WHERE session_id = '${sessionId}' AND event = 'refresh_token_reused'),
      (SELECT coalesce(revoked_reason, revoked_at::text, 'live') FROM auth.sessions WHERE id = '${sessionId}')`]).toString().trim();
  const [rotations, replays, reuses, state] = out.split('|');
  return { rotations: Number(rotations), replays: Number(replays), reuses: Number(reuses), state };
}

/** screenshot keeps what a test checked, as test-artifacts/NAME.png. */
export async function screenshot(page, name) {
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}
