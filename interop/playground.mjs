// Opens authgate's playground in headless Chromium and runs a query through
// GraphiQL, as a person would. Fails on any console error or warning (a
// Content-Security-Policy violation is one), any uncaught page error, any
// request leaving authgate's origin, any failed request, or a wrong answer.
//
// With introspection-off (the server runs without AUTHGATE_INTROSPECTION),
// the page must show the notice naming AUTHGATE_INTROSPECTION and GraphiQL
// must not send the introspection query authgate would refuse.
//
// usage: node playground.mjs BASE_URL [introspection-off]
import { chromium } from 'playwright-core';

const [base, mode] = process.argv.slice(2);
const introspectionOff = mode === 'introspection-off';
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

const browser = await chromium.launch({
  executablePath,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
const problems = [];
try {
  const page = await browser.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(base + '/') && !url.startsWith('data:')) problems.push(`request to another origin: ${url}`);
  });
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
  page.on('request', (r) => {
    if (introspectionOff && (r.postData() || '').includes('__schema')) problems.push('GraphiQL sent an introspection query although introspection is off');
  });

  await page.goto(base + '/', { waitUntil: 'networkidle', timeout: 30000 });
  const editor = page.locator('.graphiql-query-editor .CodeMirror');
  await editor.waitFor({ timeout: 15000 });
  if (introspectionOff) {
    await page.locator('.authgate-notice').getByText('AUTHGATE_INTROSPECTION=true').waitFor({ timeout: 15000 });
  }
  // The editor is CodeMirror 5; setting its value avoids its auto-closing
  // brackets, which would change typed text.
  await editor.evaluate((el) => el.CodeMirror.setValue('query PlaygroundCheck { __typename }'));
  await page.locator('.graphiql-execute-button').click();
  const response = page.locator('.graphiql-response');
  await response.getByText('"__typename": "Query"').waitFor({ timeout: 15000 });
  if (await page.getByText('Error fetching schema').count() > 0) problems.push('the page shows "Error fetching schema"');
} catch (e) {
  problems.push(`${e.name}: ${e.message.split('\n')[0]}`);
} finally {
  await browser.close();
}

if (problems.length > 0) {
  for (const p of problems) console.log(`FAIL playground: ${p}`);
  process.exit(1);
}
console.log('playground: GraphiQL loaded from authgate alone and answered a query (0 console errors, 0 outside requests)' +
  (introspectionOff ? '; without introspection it showed the AUTHGATE_INTROSPECTION notice and sent no introspection query' : ''));
