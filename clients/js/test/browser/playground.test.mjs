// The playground's authgate panel in headless Chromium against the real
// authgate (development-like: introspection on, 5-second tokens): sign in
// through the panel, run me and mySessions, wait past an access-token
// expiry, run them again, sign out. The page must load nothing from
// elsewhere and break none of its CSP (a violation is a console error).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { gql, sleep, startServer } from '../harness.mjs';
import { launch, screenshot } from './browser.mjs';

let server, browser;
before(async () => {
  server = await startServer({ AUTHGATE_ACCESS_TOKEN_TTL: '5s', AUTHGATE_INTROSPECTION: 'true' });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the playground signs in through its panel, every query carries the token across an expiry, and it signs out', async () => {
  const email = 'playground@example.com';
  const password = 'correct horse battery';
  const made = await gql(server.url, 'mutation($e: String!, $p: String!) { signup(email: $e, password: $p) { sessionId } }', { e: email, p: password });
  assert.ok(made.data?.signup?.sessionId, JSON.stringify(made));

  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const problems = [];
  let refreshes = 0;
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => {
    if (!r.url().startsWith(server.base + '/') && !r.url().startsWith('data:')) problems.push(`request to another origin: ${r.url()}`);
    if ((r.postData() || '').includes('refreshToken(refreshToken')) refreshes++;
  });
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
  try {
    await page.goto(server.base + '/', { waitUntil: 'networkidle' });
    await page.getByRole('button', { name: /authgate: sign in/i }).click();
    const panel = page.locator('.authgate-panel');
    await panel.waitFor({ timeout: 15000 });
    await panel.locator('input[name=email]').fill(email);
    await panel.locator('input[name=password]').fill(password);
    await panel.getByRole('button', { name: 'Sign in' }).click();
    await panel.locator('.authgate-email').getByText(email).waitFor({ timeout: 15000 });
    const sessionId = (await panel.locator('.authgate-session-id').textContent()).trim();
    assert.match(sessionId, /^[0-9a-f-]{36}$/);

    const editor = page.locator('.graphiql-query-editor .CodeMirror');
    const run = async () => {
      await editor.evaluate((el) => el.CodeMirror.setValue('query Me { me { email } mySessions { id current } }'));
      await page.locator('.graphiql-execute-button').click();
      const response = page.locator('.graphiql-response');
      await response.getByText(`"email": "${email}"`).waitFor({ timeout: 15000 });
      const text = await response.innerText();
      assert.ok(text.includes(sessionId), `mySessions lists the panel's session: ${text}`);
      assert.ok(!text.includes('"errors"'), text);
    };
    await run();
    await screenshot(page, 'playground-signed-in');
    await sleep(6000); // past one access-token expiry
    await run();
    assert.ok(refreshes >= 1, 'the token was refreshed');
    assert.equal(await panel.locator('.authgate-session-id').textContent(), sessionId, 'still the same session');

    // The schema explorer works (introspection is on, as in development).
    await page.getByRole('button', { name: /Documentation Explorer/i }).click();
    await page.locator('.graphiql-doc-explorer').getByText('Query', { exact: true }).first().waitFor({ timeout: 15000 });
    await page.getByRole('button', { name: /authgate: sign in/i }).click();

    await panel.getByRole('button', { name: 'Sign out' }).click();
    await panel.locator('input[name=email]').waitFor({ timeout: 15000 });
    const after = await gql(server.url, '{ mySessions { id } }', {}, null);
    assert.equal(after.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
    await screenshot(page, 'playground-signed-out');
  } finally {
    await ctx.close();
  }
  assert.deepEqual(problems, [], 'no console error or warning (a CSP violation is one), no outside request');
});
