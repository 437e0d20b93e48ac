// Opens authgate's playground in headless Chromium and runs a query through
// GraphiQL, as a person would. Fails on any console error or warning (a
// Content-Security-Policy violation is one), any uncaught page error, any
// request leaving authgate's origin, any failed request, or a wrong answer.
//
// usage: node playground.mjs BASE_URL
import { chromium } from 'playwright-core';

const [base] = process.argv.slice(2);
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

  await page.goto(base + '/', { waitUntil: 'networkidle', timeout: 30000 });
  const editor = page.locator('.graphiql-query-editor .CodeMirror');
  await editor.waitFor({ timeout: 15000 });
  // The editor is CodeMirror 5; setting its value avoids its auto-closing
  // brackets, which would change typed text.
  await editor.evaluate((el) => el.CodeMirror.setValue('query PlaygroundCheck { __typename }'));
  await page.locator('.graphiql-execute-button').click();
  const response = page.locator('.graphiql-response');
  await response.getByText('"__typename": "Query"').waitFor({ timeout: 15000 });
} catch (e) {
  problems.push(`${e.name}: ${e.message.split('\n')[0]}`);
} finally {
  await browser.close();
}

if (problems.length > 0) {
  for (const p of problems) console.log(`FAIL playground: ${p}`);
  process.exit(1);
}
console.log('playground: GraphiQL loaded from authgate alone and answered a query (0 console errors, 0 outside requests)');
