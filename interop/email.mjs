// The forgotten-password path in a real browser: sign up, ask for a reset,
// take the link from /dev/mail (development mode keeps the mail), open it
// in headless Chromium on the app's page, which POSTs resetPassword to
// authgate's /graphql (cross-origin, allowed by AUTHGATE_CORS_ORIGINS);
// then the new password signs in and the old one does not. Opening the
// link alone consumes nothing (a mail scanner's GET is harmless): the page
// is loaded twice before the form is sent.
//
// Fails on any console error or warning, any uncaught page error, any
// request to an origin other than the app's and authgate's, any failed
// request, or a wrong answer. Keeps a screenshot of the page it checked.
//
// usage: node email.mjs AUTHGATE_URL APP_PORT SCREENSHOT_PATH
import { serveApp, watchedTab } from './app.mjs';

const [base, appPort, screenshot] = process.argv.slice(2);
const app = `http://127.0.0.1:${appPort}`;
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const email = `reset-${Date.now()}@example.com`;

// The app's page: reads type and token from its URL, asks for a new
// password, and POSTs resetPassword only when the form is sent.
const page = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Choose a new password</title><link rel="icon" href="data:,"></head>
<body>
<h1>Choose a new password</h1>
<form id="f"><input id="pw" type="password" autocomplete="new-password"><button id="go" type="submit">Set password</button></form>
<p id="out"></p>
<script>
const q = new URLSearchParams(location.search);
document.getElementById('f').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if (q.get('type') !== 'reset') { document.getElementById('out').textContent = 'not a reset link'; return; }
  const r = await fetch(${JSON.stringify(base + '/graphql')}, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      query: 'mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) { accessToken user { email emailVerified } } }',
      variables: { t: q.get('token'), p: document.getElementById('pw').value },
    }),
  });
  const body = await r.json();
  document.getElementById('out').textContent = body.errors
    ? 'error: ' + body.errors[0].extensions.code
    : 'password changed for ' + body.data.resetPassword.user.email + (body.data.resetPassword.user.emailVerified ? ' (verified)' : '');
});
</script>
</body></html>`;

async function gql(query, variables) {
  const r = await fetch(base + '/graphql', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ query, variables }),
  });
  return r.json();
}

const server = await serveApp(appPort, (url) => url.startsWith('/reset'), page);

const problems = [];
let browser;
try {
  const signup = await gql('mutation($e: String!, $p: String!) { signup(email: $e, password: $p) { accessToken } }',
    { e: email, p: 'old interop password' });
  if (!signup.data?.signup?.accessToken) throw new Error('signup: ' + JSON.stringify(signup));
  const asked = await gql('mutation($e: String!, $r: String) { requestPasswordReset(email: $e, redirectTo: $r) }',
    { e: email, r: app + '/reset' });
  if (asked.data?.requestPasswordReset !== true) throw new Error('requestPasswordReset: ' + JSON.stringify(asked));

  // The worker delivers to development mode's mailbox at once; wait for it.
  let link = '';
  for (let i = 0; i < 100 && !link; i++) {
    const mails = await (await fetch(base + '/dev/mail')).json();
    link = mails.find((m) => m.to === email && m.template === 'reset')?.link || '';
    if (!link) await new Promise((r) => setTimeout(r, 100));
  }
  if (!link.startsWith(app + '/reset?')) throw new Error(`no reset link to ${app}/reset in /dev/mail (got ${JSON.stringify(link)})`);

  let tab;
  ({ browser, tab } = await watchedTab(executablePath, [base, app], problems));

  // Opening the link (twice, as a scanner then the person would) spends nothing.
  await tab.goto(link, { waitUntil: 'networkidle', timeout: 30000 });
  await tab.goto(link, { waitUntil: 'networkidle', timeout: 30000 });
  await tab.locator('#pw').fill('new interop password');
  await tab.locator('#go').click();
  await tab.locator('#out').getByText(`password changed for ${email} (verified)`).waitFor({ timeout: 15000 });
  await tab.screenshot({ path: screenshot, fullPage: true });

  // The same link again: spent.
  await tab.locator('#pw').fill('another interop password');
  await tab.locator('#go').click();
  await tab.locator('#out').getByText('error: INVALID_EMAIL_TOKEN').waitFor({ timeout: 15000 });

  const login = (p) => gql('mutation($e: String!, $p: String!) { login(identifier: $e, password: $p) { accessToken } }', { e: email, p });
  if (!(await login('new interop password')).data?.login?.accessToken) problems.push('the new password does not sign in');
  if ((await login('old interop password')).errors?.[0]?.extensions?.code !== 'INVALID_CREDENTIALS') problems.push('the old password still signs in');
} catch (e) {
  problems.push(`${e.name}: ${e.message.split('\n')[0]}`);
} finally {
  if (browser) await browser.close();
  server.close();
}

if (problems.length > 0) {
  for (const p of problems) console.log(`FAIL email: ${p}`);
  process.exit(1);
}
console.log(`email: the reset link from /dev/mail opened the app page in Chromium, which reset the password through /graphql (0 console errors, 0 outside requests); screenshot ${screenshot}`);
