// Single sign-on from the viewer in Debian's headless Chromium: open the login dialog, press the SSO
// button, log in at the identity provider's form, come back to the viewer signed in. Prints one JSON
// object of what the page showed.
// Usage: node tests/e2e/sso.mjs '{"url", "user": [username, password], "role"}'
import { openPage, runSteps } from './browser.mjs';

const spec = JSON.parse(process.argv[2]);
const result = { steps: {} };
const { browser, page } = await openPage(spec, result);
const viewer = new URL(spec.url);

const steps = {
  dialog: async () => {
    await page.goto(spec.url, { waitUntil: 'load' });
    await page.waitForFunction(() => document.getElementById('user-badge')?.textContent);
    const guest = await page.locator('#user-badge').innerText();
    await page.click('#login-button');
    const sso = page.locator('#login-dialog #sso-button');
    await sso.waitFor({ state: 'visible' });
    return { guest, button: await sso.innerText() };
  },
  english: async () => {
    const label = await page.evaluate(async () => {
      const i18n = await import('/js/i18n.js');
      i18n.setLanguage('en');
      const text = document.getElementById('sso-button').textContent;
      i18n.setLanguage('zh');
      return text;
    });
    return { button: label };
  },
  provider: async () => {
    await Promise.all([page.waitForURL((url) => url.port !== viewer.port), page.click('#sso-button')]);
    const at = new URL(page.url());
    await page.fill('input[name=username]', spec.user[0]);
    await page.fill('input[name=password]', spec.user[1]);
    await Promise.all([page.waitForURL((url) => url.port === viewer.port, { waitUntil: 'load' }), page.click('button')]);
    return { provider_port: at.port, provider_path: at.pathname };
  },
  signed_in: async () => {
    await page.waitForFunction((role) => document.getElementById('user-badge')?.textContent.includes(`(${role})`), spec.role);
    const me = await page.evaluate(async () => {
      const response = await fetch('/api/v1/auth/me', {
        headers: { Authorization: `Bearer ${sessionStorage.getItem('cim.token')}` },
      });
      return response.json();
    });
    return {
      badge: await page.locator('#user-badge').innerText(),
      login_button: await page.locator('#login-button').innerText(),
      address: page.url(),
      me,
    };
  },
};

await runSteps(browser, steps, ['dialog', 'english', 'provider', 'signed_in'], result);
