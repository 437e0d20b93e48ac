// A sign-out in one tab signs out every tab of the profile, in localStorage
// and in cookie mode, in headless Chromium against the real authgate.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../harness.mjs';
import { startPage } from './page.mjs';
import { launch, profile, screenshot } from './browser.mjs';

let app, browser;
before(async () => {
  app = await startPage();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await app?.stop();
});

for (const storage of ['localStorage', 'cookie']) {
  test(`${storage}: signOut in one tab signs out the others at once, and the session is over on the server`, async () => {
    const server = await startServer({
      AUTHGATE_CORS_ORIGINS: app.origin,
      ...(storage === 'cookie' ? { AUTHGATE_REFRESH_COOKIE: 'true' } : {}),
    });
    const p = await profile(browser, { app, server });
    try {
      const a = await p.open();
      await a.evaluate(([url, storage]) => window.start(url, { storage }), [server.url, storage]);
      await a.evaluate(() => window.client.signUp({ email: 'out@example.com', password: 'correct horse battery' }));
      const b = await p.open();
      await b.evaluate(([url, storage]) => window.start(url, { storage }), [server.url, storage]);
      assert.equal(await b.evaluate(() => window.client.graphql('{ me { email } }').then((d) => d.me.email)), 'out@example.com');
      const token = await b.evaluate(() => window.client.getAccessToken());
      const signedOut = b.evaluate(() => new Promise((resolve) => window.client.onAuthStateChange((e, s) => e === 'SIGNED_OUT' && resolve(s))));
      await a.evaluate(() => window.client.signOut());
      assert.equal(await signedOut, null, 'the other tab heard SIGNED_OUT with session null');
      assert.equal(await b.evaluate(() => window.client.getAccessToken()), null);
      const err = await b.evaluate(() => window.client.sessions().catch((e) => e.code));
      assert.equal(err, 'NOT_SIGNED_IN');
      // The old access token is refused by the server too (revocation bites at once).
      const refused = await b.evaluate(
        ([url, token]) =>
          fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` }, body: '{"query":"{ me { id } }"}' })
            .then((r) => r.json())
            .then((j) => j.errors?.[0]?.extensions?.code),
        [server.url, token],
      );
      assert.equal(refused, 'UNAUTHENTICATED');
      if (storage === 'localStorage') assert.equal(await b.evaluate(() => localStorage.length), 0);
      // A tab opened afterwards starts signed out.
      const c = await p.open();
      assert.equal(await c.evaluate(([url, storage]) => window.start(url, { storage }), [server.url, storage]), null);
      await screenshot(b, `signout-${storage}`);
      assert.deepEqual(p.watch.problems, []);
    } finally {
      await p.ctx.close();
      await server.stop();
    }
  });
}
