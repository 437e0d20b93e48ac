// Passkeys end to end in a real browser: headless Chromium with a virtual
// authenticator (Chrome DevTools Protocol: WebAuthn.enable,
// WebAuthn.addVirtualAuthenticator; ctap2, internal transport, resident
// keys, user verification), driving a test page served on authgate's own
// origin against the real server:
//   sign up, register a passkey (navigator.credentials.create), sign out,
//   sign in with the passkey alone (navigator.credentials.get), check the
//   token says x-hasura-auth-level "2" and amr ["hwk"]; then clone the
//   credential into a second authenticator with the counter it had before
//   the last sign-in and check the clone is refused (INVALID_PASSKEY).
// Fails on any console error, page error, request to another origin or
// failed request; keeps a screenshot of the page it checked.
//
// usage: node passkeys.mjs BASE_URL (http://localhost:PORT: the RP ID is
// localhost, a secure context over http)
import { chromium } from 'playwright-core';

const [base, screenshot = 'passkeys.png'] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const page_url = base + '/interop-passkeys.html';

// The test page: plain functions the test calls, talking to /graphql.
const html = `<!doctype html><meta charset="utf-8"><title>passkeys</title>
<h1>authgate passkeys</h1><pre id="log"></pre>
<script>
const log = (s) => { document.getElementById('log').textContent += s + '\\n'; };
async function gql(query, variables, token) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = 'Bearer ' + token;
  const r = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  return r.json();
}
window.signup = async (email) => {
  const r = await gql('mutation($e: String!) { signup(email: $e, password: "browser password 1") { accessToken refreshToken } }', { e: email });
  log('signed up ' + email);
  return r.data.signup;
};
window.register = async (token) => {
  const begin = await gql('mutation { beginPasskeyRegistration }', {}, token);
  if (begin.errors) return { errors: begin.errors };
  const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(begin.data.beginPasskeyRegistration);
  const cred = await navigator.credentials.create({ publicKey });
  const fin = await gql('mutation($c: JSON!) { finishPasskeyRegistration(credential: $c, name: "Virtual") { id name } }', { c: cred.toJSON() }, token);
  log('registered: ' + JSON.stringify(fin.data || fin.errors));
  return fin;
};
window.signOut = async (refreshToken) => {
  await gql('mutation($r: String!) { revoke(refreshToken: $r) }', { r: refreshToken });
  log('signed out');
};
window.signIn = async () => {
  const begin = await gql('mutation { beginPasskeySignIn }', {});
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(begin.data.beginPasskeySignIn);
  const cred = await navigator.credentials.get({ publicKey });
  const fin = await gql('mutation($c: JSON!) { finishPasskeySignIn(credential: $c) { accessToken user { email passkeys { name lastUsedAt } } } }', { c: cred.toJSON() });
  log('sign-in: ' + (fin.errors ? fin.errors[0].extensions.code : 'ok'));
  return fin;
};
</script>`;

const claimsOf = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

const browser = await chromium.launch({
  executablePath,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
const problems = [];
const check = (ok, what) => { if (!ok) problems.push(what); };
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => {
    if (!r.url().startsWith(base + '/')) problems.push(`request to another origin: ${r.url()}`);
  });
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
  // The page is served on authgate's origin (the RP's origin), beside it.
  await page.route(page_url, (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html }));
  await page.goto(page_url, { waitUntil: 'load' });

  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const options = {
    protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
    isUserVerified: true, automaticPresenceSimulation: true,
  };
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', { options });

  const email = `browser-${Date.now()}@example.com`;
  const session = await page.evaluate((e) => window.signup(e), email);
  const reg = await page.evaluate((t) => window.register(t), session.accessToken);
  check(!reg.errors && reg.data.finishPasskeyRegistration.name === 'Virtual', `registration: ${JSON.stringify(reg)}`);
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  check(credentials.length === 1 && credentials[0].isResidentCredential, `the authenticator holds ${JSON.stringify(credentials.map((c) => c.isResidentCredential))}`);
  await page.evaluate((r) => window.signOut(r), session.refreshToken);

  // The passkey alone signs in, at level 2.
  const first = await page.evaluate(() => window.signIn());
  check(!first.errors, `passkey sign-in: ${JSON.stringify(first.errors)}`);
  if (!first.errors) {
    const claims = claimsOf(first.data.finishPasskeySignIn.accessToken);
    const ns = claims['https://hasura.io/jwt/claims'];
    check(ns['x-hasura-auth-level'] === '2', `x-hasura-auth-level is ${ns['x-hasura-auth-level']}, want "2"`);
    check(JSON.stringify(claims.amr) === '["hwk"]', `amr is ${JSON.stringify(claims.amr)}, want ["hwk"]`);
    check(first.data.finishPasskeySignIn.user.email === email, 'the passkey signed in another user');
    check(first.data.finishPasskeySignIn.user.passkeys[0].lastUsedAt !== null, 'lastUsedAt not set');
  }

  // A cloned authenticator: the credential with the counter it had before
  // the original's next sign-in.
  const [before] = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
  const second = await page.evaluate(() => window.signIn());
  check(!second.errors, `second passkey sign-in: ${JSON.stringify(second.errors)}`);
  await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId });
  const { authenticatorId: cloneId } = await cdp.send('WebAuthn.addVirtualAuthenticator', { options });
  await cdp.send('WebAuthn.addCredential', { authenticatorId: cloneId, credential: before });
  const cloned = await page.evaluate(() => window.signIn());
  const code = cloned.errors && cloned.errors[0].extensions.code;
  check(code === 'INVALID_PASSKEY', `the cloned authenticator (counter replay) answered ${code || 'a session'}, want INVALID_PASSKEY`);

  await page.screenshot({ path: screenshot, fullPage: true });
} catch (e) {
  problems.push(`${e.name}: ${e.message.split('\n')[0]}`);
} finally {
  await browser.close();
}

if (problems.length > 0) {
  for (const p of problems) console.log(`FAIL passkeys: ${p}`);
  process.exit(1);
}
console.log('passkeys: registered in Chromium\'s virtual authenticator, signed in with the passkey alone (x-hasura-auth-level "2", amr ["hwk"]), and the cloned authenticator was refused (INVALID_PASSKEY); 0 console errors, 0 outside requests');
