// The dashboard (viewer/dashboard.html) in Debian's headless Chromium: first as the public (what it
// shows, what it withholds), then logged in through its form; prints "READY <figures>" once the live
// stream is connected, waits for the open gas leaks and the open alarms to grow past what it showed
// (the test raises them through the API meanwhile), and prints one JSON line with what happened.
// Figures are read from the ECharts instances' options: {figure: {label: count}} (events: {state: {kind: count}}).
// Usage: node tests/e2e/dashboard.mjs '<json spec>'  spec: {url, artifacts, login: [user, password], kind}
import { openPage } from './browser.mjs';
import { join } from 'node:path';

const spec = JSON.parse(process.argv[2]);
const result = {};
const { browser, page } = await openPage({ viewport: { width: 1600, height: 900 }, timeout_ms: 30000, ...spec }, result);

const figures = () => page.evaluate(() => {
  const out = {};
  for (const [name, chart] of Object.entries(window.cimDashboard.charts)) {
    const option = chart.getOption();
    const series = option.series;
    const names = option.xAxis?.[0]?.data;
    const value = (d) => (typeof d === 'object' ? d.value : d);
    if (series[0].type === 'pie') out[name] = Object.fromEntries(series[0].data.map((d) => [d.name, d.value]));
    else if (series.length === 1) out[name] = Object.fromEntries(names.map((n, i) => [n, value(series[0].data[i])]));
    else out[name] = Object.fromEntries(series.map((s) => [s.name, Object.fromEntries(names.map((n, i) => [n, value(s.data[i])]))]));
  }
  return out;
});
const sum = (counts) => Object.values(counts).reduce((a, b) => a + b, 0);

try {
  await page.goto(spec.url, { waitUntil: 'load' });
  await page.waitForFunction(() => window.cimDashboard?.ready === true);
  result.public = {
    figures: await figures(),
    withheld: await page.$$eval('.panel.restricted', (panels) => Object.fromEntries(panels.map((p) => [p.dataset.figure, p.querySelector('.withheld').textContent]))),
    login_shown: await page.isVisible('#login'),
  };
  await page.fill('#login input[name=username]', spec.login[0]);
  await page.fill('#login input[name=password]', spec.login[1]);
  await page.click('#login button');
  await page.waitForFunction(() => window.cimDashboard.charts.events && window.cimDashboard.connected);
  result.withheld_after_login = await page.locator('.panel.restricted').count();
  result.headings = await page.$$eval('.panel h2', (hs) => hs.map((h) => h.textContent));
  const before = await figures();
  result.before = before;
  console.log(`READY ${JSON.stringify(before)}`);
  const openLabel = Object.keys(before.events)[0]; // the first state is "open"
  await page.waitForFunction(
    ([state, kind, n]) => {
      const option = window.cimDashboard.charts.events.getOption();
      const kinds = option.xAxis[0].data;
      return option.series.find((s) => s.name === state).data[kinds.indexOf(kind)] > n;
    },
    [openLabel, spec.kind, before.events[openLabel][spec.kind]], { polling: 20 },
  );
  result.event_seen_ms = Date.now();
  await page.waitForFunction(
    (n) => window.cimDashboard.charts.alarms_open.getOption().series[0].data.reduce((a, d) => a + d.value, 0) > n,
    sum(before.alarms_open), { polling: 20 },
  );
  result.alarm_seen_ms = Date.now();
  result.after = await figures();
  result.refreshes = await page.evaluate(() => window.cimDashboard.refreshes);
  await page.screenshot({ path: join(spec.artifacts, 'dashboard.png') });
  await page.click('#lang');
  result.english = { headings: await page.$$eval('.panel h2', (hs) => hs.map((h) => h.textContent)), figures: await figures() };
} catch (exc) {
  result.error = String(exc);
}
await browser.close();
console.log(JSON.stringify(result));
