// Drives authgate's admin console in headless Chromium, as an operator
// would, with the keyboard where a person would: sign in, find a user, end
// one of its sessions (its refresh token then fails), ban it, read the
// rows in its audit trail; a form posted without the CSRF token is
// refused. Fails on any console error or warning (a Content-Security-Policy
// violation is one), any page error, any request leaving authgate's origin
// or failing. Keeps screenshots of the user list and the user's page (at
// 360 px and at 1280 px) in ARTIFACTS.
//
// usage: node admin.mjs BASE_URL ADMIN_EMAIL PASSWORD USER_EMAIL USER_REFRESH_TOKEN ARTIFACTS
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const [base, adminEmail, password, userEmail, refreshToken, artifacts] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
mkdirSync(artifacts, { recursive: true });

async function refresh(token) {
  const res = await fetch(base + '/graphql', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ query: 'mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }', variables: { t: token } }),
  });
  const body = await res.json();
  return body.errors ? body.errors[0].extensions.code : 'OK';
}

const browser = await chromium.launch({
  executablePath,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
const problems = [];
const checks = [];
try {
  const context = await browser.newContext({ viewport: { width: 360, height: 780 } });
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(base + '/') && !url.startsWith('data:')) problems.push(`request to another origin: ${url}`);
  });
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));

  // Signed out, /admin leads to the sign-in form; sign in with the keyboard.
  await page.goto(base + '/admin', { waitUntil: 'load' });
  if (!page.url().startsWith(base + '/admin/signin')) throw new Error(`/admin did not lead to the sign-in form: ${page.url()}`);
  await page.locator('#email').fill(adminEmail);
  await page.keyboard.press('Tab');
  await page.keyboard.type(password);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor({ timeout: 10000 });
  checks.push('signed in');

  // Find the user.
  await page.getByRole('link', { name: 'Users', exact: true }).click();
  await page.locator('#q').fill(userEmail.toUpperCase());
  await page.keyboard.press('Enter');
  const link = page.getByRole('link', { name: userEmail });
  await link.waitFor({ timeout: 10000 });
  await page.screenshot({ path: `${artifacts}/admin-users-360.png`, fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: `${artifacts}/admin-users-1280.png`, fullPage: true });
  await page.setViewportSize({ width: 360, height: 780 });
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  if (wide > 360) problems.push(`the user list is ${wide} px wide at a 360 px viewport`);
  await link.click();
  await page.getByRole('heading', { name: userEmail }).waitFor({ timeout: 10000 });
  checks.push('found the user');

  // End its one session: the console asks first.
  const rows = page.locator('tr[data-session]');
  if (await rows.count() !== 1) throw new Error(`the user's page lists ${await rows.count()} live sessions, want 1`);
  await rows.first().getByRole('button', { name: 'End session' }).click();
  await page.getByText('Its tokens stop working at once').waitFor({ timeout: 10000 });
  if (await page.locator('tr[data-session]').count() !== 0) throw new Error('the confirmation page lists sessions');
  await page.getByRole('button', { name: 'Confirm' }).click();
  await page.getByText('The session has ended').waitFor({ timeout: 10000 });
  checks.push('ended a session');
  const code = await refresh(refreshToken);
  if (code !== 'INVALID_REFRESH_TOKEN') throw new Error(`the ended session's refresh token answers ${code}`);
  checks.push(`its refresh token then fails (${code})`);

  // Ban until a date, with a reason; confirm.
  await page.locator('#reason').fill('interop check');
  await page.getByRole('button', { name: 'Ban', exact: true }).click();
  await page.getByRole('button', { name: 'Confirm' }).click();
  await page.getByText('The user is banned').waitFor({ timeout: 10000 });
  const status = await page.locator('#status').innerText();
  if (!status.includes('banned until') || !status.includes('interop check')) throw new Error(`status after the ban: ${status}`);
  checks.push('banned the user');

  // Its trail holds both actions.
  const events = await page.locator('table.trail td.event').allInnerTexts();
  for (const e of ['session_revoked', 'banned', 'signup']) {
    if (!events.includes(e)) throw new Error(`the trail lacks ${e}: ${events.join(', ')}`);
  }
  checks.push(`read its trail (${events.length} rows)`);
  await page.screenshot({ path: `${artifacts}/admin-user-360.png`, fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: `${artifacts}/admin-user-1280.png`, fullPage: true });

  // A form posted without the CSRF token is refused (with the session's cookie).
  const userPath = new URL(page.url()).pathname;
  const forged = await page.request.post(base + userPath + '/end-all', { form: { confirm: 'yes' }, maxRedirects: 0 });
  if (forged.status() !== 403 || !(await forged.text()).includes('CSRF')) throw new Error(`a form without its CSRF token answered ${forged.status()}`);
  checks.push('refused a form without its CSRF token');
} catch (e) {
  problems.push(`${e.name}: ${e.message.split('\n')[0]}`);
} finally {
  await browser.close();
}

if (problems.length > 0) {
  for (const p of problems) console.log(`FAIL admin console: ${p}`);
  process.exit(1);
}
console.log(`admin console: ${checks.join('; ')} (0 console errors, 0 outside requests; screenshots in ${artifacts})`);
