// Drive the admin page (viewer/admin.html) in Debian's headless Chromium: log in as an admin, create
// a user with a role and a district, then disable it. Prints one JSON object of what the page showed.
// Usage: node tests/e2e/admin.mjs '{"url", "admin": [user, password], "user": {username, password, role, district}, "artifacts"}'
import { openPage } from './browser.mjs';
import { join } from 'node:path';

const spec = JSON.parse(process.argv[2]);
const result = {};
const { browser, page } = await openPage({ timeout_ms: 30000, ...spec }, result);
try {
  await page.goto(spec.url, { waitUntil: 'load' });
  result.heading = await page.locator('h1').innerText();
  await page.fill('#signin-form input[name=username]', spec.admin[0]);
  await page.fill('#signin-form input[name=password]', spec.admin[1]);
  await page.click('#signin-form button');
  await page.waitForSelector('#users:not([hidden]) #user-rows tr');
  result.role_options = await page.$$eval('#create-form select[name=role] option', (os) => os.map((o) => [o.value, o.textContent]));
  result.district_options = await page.$$eval('#create-form select[name=districts] option', (os) => os.map((o) => [o.value, o.textContent]));

  const u = spec.user;
  await page.fill('#create-form input[name=username]', u.username);
  await page.fill('#create-form input[name=password]', u.password);
  await page.selectOption('#create-form select[name=role]', u.role);
  await page.selectOption('#create-form select[name=districts]', [u.district]);
  await page.click('#create-form button');
  const row = page.locator(`#user-rows tr[data-username="${u.username}"]`);
  await row.waitFor();
  result.created = {
    message: await page.locator('#admin-message').innerText(),
    role: await row.locator('select.role').inputValue(),
    state: await row.locator('td.state').innerText(),
  };
  await page.screenshot({ path: join(spec.artifacts, 'admin-created.png') });

  await row.locator('button.toggle').click();
  await page.waitForFunction((name) => document.querySelector(`#user-rows tr[data-username="${name}"]`)?.classList.contains('disabled'), u.username);
  result.disabled = {
    state: await row.locator('td.state').innerText(),
    button: await row.locator('button.toggle').innerText(),
  };
  await page.screenshot({ path: join(spec.artifacts, 'admin-disabled.png') });
} catch (exc) {
  result.error = String(exc);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(result));
