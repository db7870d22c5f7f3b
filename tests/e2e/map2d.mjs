// The 2D map in Debian's headless Chromium: open the viewer (3D), note what loaded before the switch,
// switch to 2D, wait until MapLibre is idle, zoom to the spec's centre, and report the rendered
// buildings (their promoted ids), the map's bounds, the legend, the TileJSON and tile requests and a
// screenshot, and the console errors and failed responses after the switch; switch back to 3D. Prints one JSON object.
// Usage: node tests/e2e/map2d.mjs '<json spec>'   spec: {url, artifacts, center: [lon, lat], zoom}
import { openPage } from './browser.mjs';
import { join } from 'node:path';

const spec = JSON.parse(process.argv[2]);
const result = { bad_responses: [] };
const { browser, page } = await openPage(spec, result);
page.on('response', (r) => r.status() >= 400 && result.bad_responses.push(`${r.status()} ${r.url()}`));
try {
  await page.goto(spec.url, { waitUntil: 'load' });
  await page.waitForFunction(() => window.cim && window.cim.ready === true);
  await page.evaluate(() => window.cim.allLoaded);
  result.imagery_3d = await page.evaluate(() => window.cim.imagery);
  const imageryTile = /\/api\/v1\/imagery\/.+\.png$/;
  if (!result.requests.some((u) => imageryTile.test(u))) await page.waitForRequest((r) => imageryTile.test(r.url()), { timeout: 60000 });
  result.imagery_3d_layers = await page.evaluate(() => {
    const layers = window.cim.viewer.imageryLayers;
    return [...Array(layers.length).keys()].map((i) => layers.get(i).imageryProvider.url).filter((u) => u?.includes('/imagery/'));
  });
  result.before_switch = result.requests.filter((u) => /maplibre|map2d|\/maps\/|tilejson|\/mvt\//.test(u));
  result.imagery_3d_tiles = result.requests.filter((u) => imageryTile.test(u)).length;
  const mark = result.requests.length;
  const errorMark = result.console_errors.length;
  const badMark = result.bad_responses.length;
  await page.click('#map-mode');
  await page.waitForFunction(() => window.cim.map2d.mode === '2d', null, { timeout: 120000 });
  result.button_after = await page.locator('#map-mode').innerText();
  result.globe_hidden = await page.locator('#globe').isHidden();
  await page.evaluate(async ([center, zoom]) => {
    const m = window.cim.map2d.map;
    m.map.jumpTo({ center, zoom });
    await m.idle();
  }, [spec.center, spec.zoom]);
  result.rendered = await page.evaluate(() => {
    const { map } = window.cim.map2d.map;
    const ids = (layer) => [...new Set(map.queryRenderedFeatures({ layers: [layer] }).map((f) => f.id))];
    const b = map.getBounds();
    return {
      buildings: ids('buildings-fill'),
      roads: ids('roads-fill'),
      road_labels: ids('roads-label-name'),
      bounds: [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()],
      zoom: map.getZoom(),
      counted: window.cim.map2d.map.requests,
      imagery: window.cim.map2d.map.imagery,
      raster_layers: map.getStyle().layers.filter((l) => l.type === 'raster').map((l) => l.id),
    };
  });
  result.legend = await page.$$eval('#map2d .map2d-legend section', (sections) =>
    sections.map((s) => ({
      layer: s.dataset.layer,
      title: s.querySelector('h4').textContent,
      items: [...s.querySelectorAll('li')].map((li) => ({ value: li.dataset.value, color: li.dataset.color, label: li.textContent })),
    })));
  result.after_switch = result.requests.slice(mark).filter((u) => /maplibre|map2d|\/maps\/|tilejson|\/mvt\//.test(u));
  result.imagery_2d_tiles = result.requests.slice(mark).filter((u) => imageryTile.test(u)).length;
  result.errors_after_switch = result.console_errors.slice(errorMark);
  result.bad_after_switch = result.bad_responses.slice(badMark);
  await page.screenshot({ path: join(spec.artifacts, 'map2d.png') });
  await page.click('#map-mode');
  await page.waitForFunction(() => window.cim.map2d.mode === '3d');
  result.back_to_3d = !(await page.locator('#globe').isHidden()) && (await page.locator('#map2d').isHidden());
} catch (exc) {
  result.error = String(exc?.stack ?? exc);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(result));
