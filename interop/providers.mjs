// Provider sign-in in a real browser: the app's page (served here, on its
// own origin) links to authgate's /auth/corp/start; authgate redirects to
// the OpenID provider (cmd/testop: zitadel/oidc's provider and login form),
// where the test signs in as alice; the provider redirects to authgate's
// callback, which redirects to the app's page with ?code=; the page calls
// exchangeAuthCode (cross-origin, allowed by AUTHGATE_CORS_ORIGINS) and then
// `me` with the access token. Then the same code again: INVALID_AUTH_CODE.
//
// Fails on any console error or warning, any uncaught page error, any
// request to an origin other than the app's, authgate's and the provider's,
// any failed request, or a wrong answer. Keeps a screenshot of the page it
// checked.
//
// usage: node providers.mjs AUTHGATE_URL PROVIDER_URL APP_PORT SCREENSHOT_PATH
import { serveApp, watchedTab } from './app.mjs';

const [base, provider, appPort, screenshot] = process.argv.slice(2);
const app = `http://127.0.0.1:${appPort}`;
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

// The app's page: without ?code= it offers the sign-in link; with one it
// exchanges it for a session and asks who is signed in.
const page = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>App</title><link rel="icon" href="data:,"></head>
<body>
<h1>App</h1>
<a id="signin" href="${base}/auth/corp/start?redirectTo=${encodeURIComponent(app + '/signed-in')}">Sign in with Corp</a>
<p id="out"></p>
<script>
const gql = async (query, variables, token) => (await fetch(${JSON.stringify(base + '/graphql')}, {
  method: 'POST',
  headers: Object.assign({ 'Content-Type': 'application/json' }, token ? { Authorization: 'Bearer ' + token } : {}),
  body: JSON.stringify({ query, variables }),
})).json();
const q = new URLSearchParams(location.search);
const out = document.getElementById('out');
if (q.get('error')) out.textContent = 'error: ' + q.get('error');
if (q.get('code')) (async () => {
  const code = q.get('code');
  history.replaceState(null, '', location.pathname);
  const r = await gql('mutation($c: String!) { exchangeAuthCode(code: $c) { accessToken refreshToken } }', { c: code });
  if (r.errors) { out.textContent = 'error: ' + r.errors[0].extensions.code; return; }
  const me = await gql('{ me { email identities { provider subject } } }', {}, r.data.exchangeAuthCode.accessToken);
  const again = await gql('mutation($c: String!) { exchangeAuthCode(code: $c) { accessToken } }', { c: code });
  out.textContent = 'signed in as ' + me.data.me.email + ' via ' + me.data.me.identities.map((i) => i.provider + ':' + i.subject).join(',') +
    '; the code again: ' + (again.errors ? again.errors[0].extensions.code : 'accepted');
})();
</script>
</body></html>`;

const server = await serveApp(appPort, (url) => url === '/' || url.startsWith('/signed-in'), page);

const problems = [];
let browser;
try {
  let tab;
  ({ browser, tab } = await watchedTab(executablePath, [base, app, provider], problems));

  await tab.goto(app + '/', { waitUntil: 'networkidle', timeout: 30000 });
  await tab.locator('#signin').click();
  // The provider's login form.
  await tab.locator('#username').waitFor({ timeout: 15000 });
  if (!tab.url().startsWith(provider + '/')) problems.push(`the login form is not the provider's: ${tab.url()}`);
  await tab.locator('#username').fill('alice');
  await tab.locator('#password').fill('verysecure');
  await tab.locator('button[type=submit]').click();
  await tab.locator('#out').getByText('signed in as alice@example.com via corp:sub-alice; the code again: INVALID_AUTH_CODE').waitFor({ timeout: 15000 });
  if (tab.url() !== app + '/signed-in') problems.push(`the code stayed in the address bar: ${tab.url()}`);
  await tab.screenshot({ path: screenshot, fullPage: true });
} catch (e) {
  problems.push(`${e.name}: ${e.message.split('\n')[0]}`);
} finally {
  if (browser) await browser.close();
  server.close();
}

if (problems.length > 0) {
  for (const p of problems) console.log(`FAIL providers: ${p}`);
  process.exit(1);
}
console.log(`providers: Chromium went app → authgate → the OpenID provider's login → authgate's callback → app?code=, and exchangeAuthCode made a session (0 console errors, 0 outside requests); screenshot ${screenshot}`);
