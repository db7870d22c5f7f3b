// Time from navigation to the first frame with every visible tile loaded (window.cim.metrics.firstAllLoadedMs,
// measured by the page on Cesium's postRender: globe.tilesLoaded and every shown tileset's tilesLoaded),
// in Debian's headless Chromium, a fresh browser context (empty cache) per run.
// Usage: node bench/viewer/measure.mjs URL RUNS  → one JSON object on stdout.
import { chromium } from 'playwright-core';

const [url, runs = '3'] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--enable-unsafe-swiftshader', '--use-angle=swiftshader',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const result = { runs: [], outside: [] };
try {
  for (let i = 0; i < Number(runs); i += 1) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.route('**/*', (route) => {
      const u = new URL(route.request().url());
      if (!['data:', 'blob:'].includes(u.protocol) && u.hostname !== '127.0.0.1') {
        result.outside.push(u.href);
        return route.abort();
      }
      return route.continue();
    });
    await page.goto(url);
    await page.waitForFunction(() => window.cim?.metrics?.firstAllLoadedMs !== undefined, null, { timeout: 300000, polling: 250 });
    result.runs.push(
      await page.evaluate(() => ({
        first_all_loaded_ms: Math.round(window.cim.metrics.firstAllLoadedMs),
        dom_content_loaded_ms: Math.round(performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd),
        requests: performance.getEntriesByType('resource').length,
        banner: document.getElementById('banner').innerText,
        tilesets: Object.keys(window.cim.layers.tilesets),
      })),
    );
    await context.close();
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(result));
