// Open one of the review pages (drawing.html, oversight.html) in Debian's headless Chromium, signed
// in with a token the test got from the API, wait until the page says it is ready, and report what
// the page's probe expression returns, as one JSON object.
// Usage: node tests/e2e/review_page.mjs '<json spec>'
// spec: {url, token, user: {username, role}, ready: "<js expression>", probe: "<js expression>",
//        artifacts, shot}
// Any request to a host other than 127.0.0.1 is aborted and reported.
import { openPage } from './browser.mjs';
import { join } from 'node:path';

const spec = JSON.parse(process.argv[2]);
const result = {};
const { browser, page } = await openPage({ viewport: { width: 1400, height: 1000 }, timeout_ms: 60000, ...spec }, result);
try {
  await page.addInitScript(([token, user]) => {
    sessionStorage.setItem('cim.token', token);
    sessionStorage.setItem('cim.user', JSON.stringify(user));
  }, [spec.token, spec.user]);
  await page.goto(spec.url, { waitUntil: 'load' });
  await page.waitForFunction(spec.ready);
  result.probe = await page.evaluate(spec.probe);
  result.banner = await page.locator('#banner').innerText();
  await page.screenshot({ path: join(spec.artifacts, `${spec.shot}.png`), fullPage: true });
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(result));
