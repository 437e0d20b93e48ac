// Several tabs of one browser profile sharing a session, in headless
// Chromium against the real authgate with 5-second access tokens: every
// request must succeed, no tab may be signed out, the server must never see
// a reuse, and rotations stay at one per token lifetime (not one per tab).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, sleep } from '../harness.mjs';
import { startPage } from './page.mjs';
import { audit, launch, profile, screenshot } from './browser.mjs';

const TTL = 5; // seconds, the access tokens' lifetime
const MARGIN = 0.5; // seconds before (the earliest) expiry at which the client refreshes
const RUN = Number(process.env.AUTHGATE_TABS_SECONDS || 60); // seconds of requests
const password = 'correct horse battery';

let app, server, browser;
before(async () => {
  app = await startPage();
  server = await startServer({
    AUTHGATE_ACCESS_TOKEN_TTL: `${TTL}s`,
    AUTHGATE_AUDIT_REFRESHES: 'true',
    AUTHGATE_CORS_ORIGINS: app.origin,
  });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
  await app?.stop();
});

/**
 * tabs signs up in one tab, opens two more on the same profile, lets all
 * three make a request every 150 ms for seconds, freezing the third (the
 * DevTools protocol's page-lifecycle freeze: no timers, no tasks, as a
 * sleeping laptop or a discarded background tab) for sleepFor seconds, and
 * returns what the tabs and the server saw.
 */
async function tabs({ storage, seconds, sleepFrom, sleepFor, initScript, label, srv = server }) {
  const server = srv;
  const p = await profile(browser, { app, server, initScript });
  const options = { storage, refreshMargin: MARGIN };
  const first = await p.open();
  await first.evaluate(([url, options]) => window.start(url, options), [server.url, options]);
  const session = await first.evaluate(
    ([email, password]) => window.client.signUp({ email, password, description: 'tabs' }).then((s) => s.sessionId),
    [`${label}@example.com`, password],
  );
  const pages = [first];
  for (let i = 0; i < 2; i++) {
    const page = await p.open();
    const seen = await page.evaluate(([url, options]) => window.start(url, options), [server.url, options]);
    if (storage !== 'cookie') assert.equal(seen, session, 'a new tab starts in the shared session');
    pages.push(page);
  }
  const start = Date.now();
  const until = start + seconds * 1000;
  for (const page of pages) await page.evaluate(([until]) => window.work(until, 150), [until]);
  if (sleepFor) {
    await sleep(sleepFrom * 1000);
    const cdp = await p.ctx.newCDPSession(pages[2]);
    await cdp.send('Page.setWebLifecycleState', { state: 'frozen' });
    await sleep(sleepFor * 1000);
    await cdp.send('Page.setWebLifecycleState', { state: 'active' });
  }
  const stats = [];
  for (const page of pages) stats.push(await page.evaluate(() => window.working));
  const elapsed = (Date.now() - start) / 1000;
  await screenshot(pages[0], `tabs-${label}`);
  const server_ = audit(server, session);
  await p.ctx.close();
  return { stats, elapsed, watch: p.watch, server: server_, session };
}

function report(label, r) {
  const ok = r.stats.reduce((n, s) => n + s.ok, 0);
  const failed = r.stats.reduce((n, s) => n + s.failed, 0);
  const signedOut = r.stats.reduce((n, s) => n + s.events.filter((e) => e === 'SIGNED_OUT').length, 0);
  // What the refresh requests that were answered with an error said (none should end the session).
  const refused = r.watch.refreshAnswers
    .filter((body) => body.includes('"errors"') && !body.includes('INVALID_CREDENTIALS'))
    .map((body) => JSON.parse(body).errors?.[0]?.extensions?.code ?? 'no code');
  const initialProbe = label.startsWith('cookie') ? 1 : 0; // a cookie-mode tab's first try, before anyone signed in
  console.log(
    `${label}: 3 tabs, ${r.elapsed.toFixed(0)} s, ${TTL}-s tokens: ${ok} requests ok, ${failed} failed, ` +
      `${signedOut} sign-outs; ${r.watch.refreshes} refresh requests (${refused.length} answered with an error: ${refused.join(', ') || 'none'}), ` +
      `server: ${r.server.rotations} rotations, ${r.server.replays} grace replays, ${r.server.reuses} reuse detections, session ${r.server.state}`,
  );
  assert.ok(
    refused.filter((c) => ['INVALID_REFRESH_TOKEN', 'REFRESH_TOKEN_REUSED', 'USER_DISABLED'].includes(c)).length <= initialProbe,
    `a refresh was refused for good: ${refused}`,
  );
  assert.deepEqual(r.watch.problems, [], 'no console errors, failed requests or foreign requests');
  assert.equal(failed, 0, `failed requests: ${JSON.stringify(r.stats.map((s) => s.errors))}`);
  assert.equal(signedOut, 0, 'no tab was ever signed out');
  assert.equal(r.server.reuses, 0, 'no reuse detected');
  assert.equal(r.server.state, 'live', 'the session was never ended');
  // One rotation per token: each is refreshed MARGIN seconds before its earliest expiry (the
  // client counts on TTL − 1 s, as iat is truncated to whole seconds).
  const bound = Math.ceil(r.elapsed / (TTL - 1 - MARGIN)) + 2; // + the first token's and the last one's
  assert.ok(r.server.rotations <= bound, `${r.server.rotations} rotations in ${r.elapsed} s, at most ${bound} expected`);
  assert.ok(r.server.rotations >= Math.floor(r.elapsed / TTL) - 1, `only ${r.server.rotations} rotations: did the tabs keep working?`);
  return { ok, failed };
}

test(`three tabs (localStorage) for ${RUN} s across ${Math.round(RUN / TTL)} expiries, one asleep for 16 s: no failure, no reuse, one rotation per token`, async () => {
  const r = await tabs({ storage: 'localStorage', seconds: RUN, sleepFrom: RUN / 3, sleepFor: 16, label: 'web-locks' });
  report('Web Locks', r);
  // A grace replay (the same successor again, to the same browser) is no failure, but with Web
  // Locks it should stay rare: at most one for every four rotations.
  assert.ok(r.server.replays * 4 <= r.server.rotations, `${r.server.replays} grace replays for ${r.server.rotations} rotations`);
  assert.ok(r.watch.refreshes >= r.server.rotations + r.server.replays, 'the server saw no refresh the tabs did not send');
});

test('without Web Locks (BroadcastChannel fallback): three tabs for 20 s, one asleep for 12 s: no failure, no reuse', async () => {
  const r = await tabs({
    storage: 'localStorage',
    seconds: 20,
    sleepFrom: 4,
    sleepFor: 12,
    label: 'broadcast-channel',
    initScript: () => Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined }),
  });
  report('BroadcastChannel fallback', r);
});

test('cookie mode (AUTHGATE_REFRESH_COOKIE): three tabs for 20 s, one asleep for 12 s; no script ever sees the refresh token', async () => {
  const srv = await startServer({
    AUTHGATE_ACCESS_TOKEN_TTL: `${TTL}s`,
    AUTHGATE_AUDIT_REFRESHES: 'true',
    AUTHGATE_CORS_ORIGINS: app.origin,
    AUTHGATE_REFRESH_COOKIE: 'true',
  });
  try {
    const r = await tabs({ storage: 'cookie', seconds: 20, sleepFrom: 4, sleepFor: 12, label: 'cookie', srv });
    report('cookie mode', r);
    assert.ok(r.watch.refreshAnswers.length > 0);
    const sessions = r.watch.refreshAnswers.filter((body) => body.includes('"accessToken"'));
    assert.ok(sessions.length >= r.server.rotations, 'the sign-up and each rotation answered');
    for (const body of sessions) assert.match(body, /"refreshToken":null/, 'no answer carries a refresh token');
  } finally {
    await srv.stop();
  }
});
