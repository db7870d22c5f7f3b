// The credit section in Debian's headless Chromium: log in, open the section, apply each filter set
// and note the listed alerts, open one alert (fly to its site, highlight its evidence, show the
// enterprise's card with the grade-history chart), take its next workflow step, show the heat map by
// hexagon and by district; print one JSON line with what happened.
// Usage: node tests/e2e/credit.mjs '<json spec>'
//   spec: {url, artifacts, login: [user, password], filters: [{kind, level, state, district}], alert, site}
import { logIn, openPage } from './browser.mjs';
import { join } from 'node:path';

const spec = JSON.parse(process.argv[2]);
const result = { console_errors: [], outside: [], bad_responses: [], filtered: [] };
const { browser, page } = await openPage(spec, result);
page.on('response', (r) => r.status() >= 400 && result.bad_responses.push(`${r.status()} ${r.url()}`));
try {
  await page.goto(spec.url, { waitUntil: 'load' });
  await page.waitForFunction(() => window.cim && window.cim.ready === true);
  result.credit_requests_before_open = await page.evaluate(() =>
    performance.getEntriesByType('resource').filter((e) => /\/api\/v1\/credit|\/vendor\/echarts|credit\.js/.test(e.name)).map((e) => e.name));
  await logIn(page, spec.login);
  await page.click('#credit > summary');
  await page.waitForFunction(() => window.cim.credit.ready === true);
  result.kind_options = await page.$$eval('#credit-kind option', (os) => os.map((o) => [o.value, o.textContent]));
  result.district_options = await page.$$eval('#credit-district option', (os) => os.map((o) => o.value));

  for (const filter of spec.filters) {
    for (const key of ['kind', 'level', 'state', 'district']) await page.selectOption(`#credit-${key}`, filter[key] ?? '');
    await page.waitForFunction(
      (f) => ['kind', 'level', 'state', 'district'].every((k) => (window.cim.credit.filters?.[k] ?? '') === (f[k] ?? '')),
      filter,
    );
    const listed = await page.evaluate(() => window.cim.credit.listed);
    const shown = await page.$$eval('#credit-alerts li[data-alert-id]', (lis) => lis.map((li) => Number(li.dataset.alertId)));
    result.filtered.push({ filter, listed, shown });
  }
  for (const key of ['kind', 'level', 'state', 'district']) await page.selectOption(`#credit-${key}`, '');
  await page.waitForFunction((id) => window.cim.credit.listed?.includes(id), spec.alert);
  result.item_text = await page.locator(`#credit-alerts li[data-alert-id="${spec.alert}"]`).innerText();

  await page.locator(`#credit-alerts li[data-alert-id="${spec.alert}"] [data-act=open]`).click();
  await page.waitForFunction((id) => window.cim.credit.flown?.alert === id && window.cim.credit.chart, spec.alert);
  result.flown = await page.evaluate(() => window.cim.credit.flown);
  result.highlighted = await page.evaluate(() => window.cim.credit.highlighted);
  result.chart = await page.evaluate(() => window.cim.credit.chart);
  result.chart_canvases = await page.locator('#credit-chart canvas').count();
  result.explanation_rows = await page.locator('#credit-explanation tbody tr').count();
  result.grade_text = await page.locator('#credit-grade').innerText();
  result.score_text = await page.locator('#credit-score').innerText();
  // What is drawn at the middle of the screen after the flight: the highlighted site.
  await page.evaluate(() => window.cim.waitForTiles());
  result.picked_at_centre = await page.evaluate(() => {
    const { viewer } = window.cim;
    viewer.scene.render();
    const canvas = viewer.scene.canvas;
    const picked = viewer.scene.drillPick(new window.Cesium.Cartesian2(canvas.clientWidth / 2, canvas.clientHeight / 2));
    return picked.map((p) => p.id?.id).filter(Boolean);
  });
  await page.screenshot({ path: join(spec.artifacts, 'viewer-credit-alert.png') });

  result.step_button = await page.locator('#credit-workflow button').innerText();
  await page.locator('#credit-workflow button').click();
  await page.waitForFunction(() => (window.cim.credit.steps ?? []).length > 0);
  result.steps = await page.evaluate(() => window.cim.credit.steps);
  result.state_text = await page.locator('#credit-alert-state').innerText();

  for (const kind of ['hexagon', 'district']) {
    await page.selectOption('#credit-heat', kind);
    await page.waitForFunction((k) => window.cim.credit.heat?.kind === k && window.cim.credit.heat.colours, kind);
    result[`heat_${kind}`] = await page.evaluate(() => window.cim.credit.heat);
    result[`legend_${kind}`] = await page.locator('#credit-legend li').allInnerTexts();
  }
  await page.screenshot({ path: join(spec.artifacts, 'viewer-credit-heat.png') });

  // The other language: the section's labels follow, the chosen heat map stays.
  await page.click('#lang');
  await page.waitForFunction(() => document.documentElement.lang === 'en');
  result.kind_options_en = await page.$$eval('#credit-kind option', (os) => os.map((o) => [o.value, o.textContent]));
  result.heat_after_language = await page.$eval('#credit-heat', (el) => el.value);
} catch (exc) {
  result.error = String(exc);
}
await browser.close();
console.log(JSON.stringify(result));
