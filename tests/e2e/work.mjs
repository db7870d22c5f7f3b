// Drive the viewer's working tools (API docs, navigation, measuring, cutting, results, cards) in
// Debian's headless Chromium and report what happened as one JSON object.
// Usage: node tests/e2e/work.mjs '<json spec>'   spec: {url, artifacts, steps: [...], ...per step}
import { join } from 'node:path';
import { openPage, runSteps } from './browser.mjs';

const spec = JSON.parse(process.argv[2]);
const result = { steps: {} };
const { browser, page } = await openPage(spec, result);
const shot = (name) => page.screenshot({ path: join(spec.artifacts, `work-${name}.png`) });

/** Swagger UI at /docs: every operation it lists as [METHOD, path]. */
async function docs() {
  await page.goto(new URL('docs', spec.url).href, { waitUntil: 'load' });
  await page.locator('.opblock').first().waitFor({ state: 'visible' });
  await shot('docs');
  return {
    title: await page.locator('.info .title').innerText(),
    operations: await page.$$eval('.opblock', (els) =>
      els.map((e) => [e.querySelector('.opblock-summary-method').innerText.trim(), e.querySelector('.opblock-summary-path').dataset.path])),
  };
}

/** ReDoc at /redoc: the operation ids of the sections it rendered. */
async function redoc() {
  await page.goto(new URL('redoc', spec.url).href, { waitUntil: 'load' });
  await page.locator('[data-section-id*="operation/"]').first().waitFor({ state: 'attached' });
  await shot('redoc');
  return {
    title: await page.locator('h1').first().innerText(),
    sections: await page.$$eval('[data-section-id*="operation/"]', (els) => [...new Set(els.map((e) => e.dataset.sectionId.split('operation/')[1]))]),
  };
}

const STEPS = { docs, redoc };
await runSteps(browser, STEPS, spec.steps, result, (name) => shot(`${name}-failed`));
