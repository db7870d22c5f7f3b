// Time from navigation to the first frame with every visible tile loaded (window.cim.metrics.firstAllLoadedMs,
// measured by the page on Cesium's postRender: globe.tilesLoaded and every shown tileset's tilesLoaded),
// in Debian's headless Chromium, a fresh browser context (empty cache) per run. With a peer page (a file,
// answered at /bench/peer.html on the same server by the driver, no request leaves 127.0.0.1), the
// viewer and the peer load alternately, in the same browser.
// With BASELINE_URL (the same page served from another checkout) that page loads alternately too.
// With SEARCH ('{"q", "kind", "id"}'), each viewer run then searches: the query typed at once, the
// suggestion of kind/id picked as soon as it shows, until the camera has flown and the card is open
// (the baseline's runs too).
// Usage: node bench/viewer/measure.mjs URL RUNS [PEER_HTML|-] [BASELINE_URL|-] [SEARCH]  → one JSON object on stdout.
import fs from 'node:fs';
import { chromium } from 'playwright-core';

const [url, runs = '3', peerArg, baselineArg, searchArg] = process.argv.slice(2);
const baselineUrl = baselineArg && baselineArg !== '-' ? baselineArg : null;
const target = searchArg ? JSON.parse(searchArg) : null;
const peerFile = peerArg && peerArg !== '-' ? peerArg : null;
const peerUrl = new URL('/bench/peer.html', url).href;
const peerHtml = peerFile ? fs.readFileSync(peerFile) : null;
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--enable-unsafe-swiftshader', '--use-angle=swiftshader',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const result = { runs: [], peer_runs: [], baseline_runs: [], search_runs: [], baseline_search_runs: [], outside: [] };

/** Query typed → suggestion shown, and suggestion picked → flown there with the card open (ms). */
async function search(page) {
  const before = await page.evaluate(() => window.cim.events.picked);
  const option = page.locator(`#search-list [role="option"][data-kind="${target.kind}"][data-id="${target.id}"]`);
  const typed = Date.now();
  await page.fill('#search-input', target.q);
  await option.waitFor({ state: 'visible', timeout: 30000 });
  const shown = Date.now();
  await option.click();
  await page.waitForFunction((k) => window.cim.events.picked > k, before, { timeout: 30000, polling: 'raf' });
  await page.locator('#panel .profile-card').waitFor({ state: 'visible' });
  const opened = Date.now();
  return { suggest_ms: shown - typed, pick_to_card_ms: opened - shown, total_ms: opened - typed };
}

async function load(page_url, searches = null) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (!['data:', 'blob:'].includes(u.protocol) && u.hostname !== '127.0.0.1') {
      result.outside.push(u.href);
      return route.abort();
    }
    if (u.href === peerUrl) return route.fulfill({ contentType: 'text/html', body: peerHtml });
    return route.continue();
  });
  await page.goto(page_url);
  await page.waitForFunction(() => window.cim?.metrics?.firstAllLoadedMs !== undefined, null, { timeout: 300000, polling: 250 });
  const answer = await page.evaluate(() => ({
    first_all_loaded_ms: Math.round(window.cim.metrics.firstAllLoadedMs),
    dom_content_loaded_ms: Math.round(performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd),
    requests: performance.getEntriesByType('resource').length,
    banner: document.getElementById('banner')?.innerText ?? '',
  }));
  if (searches && target) searches.push(await search(page));
  await context.close();
  return answer;
}

try {
  for (let i = 0; i < Number(runs); i += 1) {
    // alternate which goes first, so that neither always meets the other's after-effects
    const order = ['viewer', 'baseline', 'peer'];
    if (i % 2) order.reverse();
    for (const which of order) {
      if (which === 'viewer') result.runs.push(await load(url, result.search_runs));
      else if (which === 'baseline' && baselineUrl) result.baseline_runs.push(await load(baselineUrl, result.baseline_search_runs));
      else if (which === 'peer' && peerHtml) result.peer_runs.push(await load(peerUrl));
    }
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(result));
