// The live panel in Debian's headless Chromium: open it, wait for the stream, say READY on stdout,
// then wait for an alarm of spec.sensor, note when it arrived (Date.now()), fly to it, acknowledge and
// close it through its buttons; print one JSON line with what happened.
// Usage: node tests/e2e/live.mjs '<json spec>'  spec: {url, artifacts, sensor, after (alarm ids up to it are older), login: [user, password]}
import { logIn, openPage } from './browser.mjs';
import { join } from 'node:path';

const spec = JSON.parse(process.argv[2]);
const result = { console_errors: [], outside: [] };
const { browser, page } = await openPage(spec, result);
page.on('response', (r) => r.status() >= 400 && (result.bad_responses ??= []).push(`${r.status()} ${r.url()}`));
try {
  await page.goto(spec.url, { waitUntil: 'load' });
  await page.waitForFunction(() => window.cim && window.cim.ready === true);
  result.live_requests_before_open = await page.evaluate(() =>
    performance.getEntriesByType('resource').filter((e) => /live|sensors|alarms/.test(e.name)).map((e) => e.name));
  await logIn(page, spec.login);
  await page.click('#live > summary');
  await page.waitForFunction(() => window.cim.live.connected === true);
  result.sensors_drawn = await page.evaluate(() => window.cim.live.module.sensors.size);
  console.log('READY');
  const id = await (await page.waitForFunction(
    ([sensor, after]) => Object.keys(window.cim.live.seen).map(Number)
      .find((k) => k > after && window.cim.live.module.alarms.get(k)?.sensor_id === sensor),
    [spec.sensor, spec.after], { polling: 10, timeout: 120000 })).jsonValue();
  result.alarm_id = id;
  result.seen_at_ms = await page.evaluate((k) => window.cim.live.seen[k], id);
  result.alarm = await page.evaluate((k) => window.cim.live.module.alarms.get(k), id);
  const item = page.locator(`#alarm-list li[data-alarm-id="${id}"]`);
  await item.waitFor();
  await item.locator('[data-act=fly]').click();
  await page.waitForFunction((s) => window.cim.live.chart?.sensor === s, spec.sensor);
  result.chart = await page.evaluate(() => window.cim.live.chart);
  result.compartment_levels = await page.evaluate(() => window.cim.live.compartments);
  await page.screenshot({ path: join(spec.artifacts, 'viewer-live-alarm.png') });
  await item.locator('[data-act=acknowledged]').click();
  await page.waitForFunction((k) => window.cim.live.statuses[k] === 'acknowledged', id);
  await page.locator(`#alarm-list li[data-alarm-id="${id}"] [data-act=closed]`).click();
  await page.waitForFunction((k) => window.cim.live.statuses[k] === 'closed', id);
  result.listed_after_close = await page.locator(`#alarm-list li[data-alarm-id="${id}"]`).count();
} catch (exc) {
  result.error = String(exc);
  // What the page had when it failed: the alarms it saw on the stream and those it lists.
  result.seen = await page.evaluate(() => [window.cim.live.seen, window.cim.live.open]).catch(String);
}
await browser.close();
console.log(JSON.stringify(result));
