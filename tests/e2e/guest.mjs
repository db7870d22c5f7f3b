// The viewer for a guest on a deployment with its default public layers, then logged in: which
// layers load, which are marked "log in to see", what the banner says. Prints one JSON object.
// Usage: node tests/e2e/guest.mjs '{"url", "login": [username, password], "draped": [names]}' (extra keys ignored)
import { logIn, openPage, runSteps } from './browser.mjs';

const spec = JSON.parse(process.argv[2]);
const result = { steps: {} };
const { browser, page } = await openPage(spec, result);

const seen = () =>
  page.evaluate(() => ({
    banner: document.getElementById('banner').innerText,
    tilesets: Object.keys(window.cim.layers.tilesets).sort(),
    requested: Object.keys(window.cim.layers.loading).sort(),
    draped: window.cim.layers.drapes.counts,
    locked: [...document.querySelectorAll('#layers-body label.locked input[data-layer]')].map((box) => box.dataset.layer).sort(),
    locked_title: document.querySelector('#layers-body label.locked')?.title ?? null,
  }));

const steps = {
  guest: async () => {
    await page.goto(spec.url, { waitUntil: 'load' });
    await page.waitForFunction(() => window.cim?.metrics?.firstAllLoadedMs !== undefined, null, { timeout: 180000 });
    return seen();
  },
  logged_in: async () => {
    await logIn(page, spec.login);
    await page.waitForFunction((names) => names.every((n) => n in window.cim.layers.drapes.counts), spec.draped);
    return seen();
  },
};

await runSteps(browser, steps, ['guest', 'logged_in'], result);
