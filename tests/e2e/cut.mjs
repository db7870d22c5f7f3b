// Drive the viewer's cutting and depth tools in Debian's headless Chromium: a horizontal section
// through a BIM model, an excavation pit drawn around a pipe, the depth and height measurements;
// report what happened as one JSON object (screenshots in spec.artifacts as cut-*.png).
// Usage: node tests/e2e/cut.mjs '<json spec>'   spec: {url, artifacts, steps: [...], login, ...per step}
import { join } from 'node:path';
import { logIn, openPage, runSteps } from './browser.mjs';

const spec = JSON.parse(process.argv[2]);
const result = { steps: {} };
const { browser, page } = await openPage(spec, result);
const canvas = page.locator('#globe canvas');
const frames = (n = 2) => page.evaluate((k) => new Promise((resolve) => {
  const next = (left) => (left ? requestAnimationFrame(() => next(left - 1)) : resolve());
  next(k);
}), n);
/** A canvas screenshot once every tile is in and a fresh frame is drawn. */
const settled = async (name) => {
  await page.evaluate(() => window.cim.waitForTiles());
  await frames(3);
  await canvas.screenshot({ path: join(spec.artifacts, `cut-${name}.png`) });
};

let opened = false;
/** The viewer, logged in as spec.login (loaded again then: the BIM tiles load with the session's
 * token), opened once: a later step starts from the page the one before left, cleared. */
async function openViewer() {
  if (opened) {
    await page.click('#tool-clear');
    return;
  }
  const open = async () => {
    await page.goto(spec.url, { waitUntil: 'load' });
    await page.waitForFunction(() => window.cim && window.cim.ready === true);
    await page.evaluate(() => window.cim.allLoaded);
  };
  await open();
  opened = true;
  if (!spec.login) return;
  await logIn(page, spec.login);
  await open();
}

/** Canvas pixel of a point (lon, lat, ellipsoidal height). */
const toCanvas = (lon, lat, h) => page.evaluate(([x, y, z]) => {
  const w = Cesium.SceneTransforms.worldToWindowCoordinates(window.cim.viewer.scene, Cesium.Cartesian3.fromDegrees(x, y, z));
  return w ? [Math.round(w.x), Math.round(w.y)] : null;
}, [lon, lat, h]);

/** What the scene picks at canvas pixels: [layer, id] or [the thing's kind, null]. */
const picks = (points) => page.evaluate((pts) => pts.map(([x, y]) => {
  const f = window.cim.viewer.scene.pick(new Cesium.Cartesian2(x, y));
  return f instanceof Cesium.Cesium3DTileFeature ? [f.tileset.layerName, String(f.getProperty('id'))] : [String(f?.constructor?.name ?? f), null];
}), points);

/** Look straight down from `above` m over lon/lat's ground; resolves once every tile is in. */
async function lookDown(lon, lat, above) {
  await page.evaluate(([x, y, up]) => {
    const { viewer } = window.cim;
    const ground = viewer.scene.globe.getHeight(Cesium.Cartographic.fromDegrees(x, y)) ?? 0;
    viewer.camera.setView({ destination: Cesium.Cartesian3.fromDegrees(x, y, ground + up), orientation: { heading: 0, pitch: -Cesium.Math.PI_OVER_TWO, roll: 0 } });
  }, [lon, lat, above]);
  await page.evaluate(() => window.cim.waitForTiles());
}

/** The page position of a canvas pixel. */
async function onPage([x, y]) {
  const box = await canvas.boundingBox();
  return [box.x + x, box.y + y];
}

/** spec.section: {lon, lat, base_h_orthometric, height_m, above}: the model seen from a side where
 * points at 20 % and 85 % of its height are on it; screenshots before, with a horizontal plane
 * `above` m over the city's lowest ground, and after switching it off. */
async function section() {
  await openViewer();
  const { lon, lat, base_h_orthometric: base, height_m: height, above } = spec.section;
  const undulation = await page.evaluate(() => window.cim.navigation.undulation);
  const at = (share) => toCanvas(lon, lat, base + undulation + height * share);
  let points = null;
  const tried = [];
  for (const turn of [0, 1, 2, 3, 4, 5, 6, 7].map((k) => (k * Math.PI) / 4)) {
    await page.evaluate(([x, y, bottom, h, heading]) => {
      const { viewer } = window.cim;
      const target = Cesium.Cartesian3.fromDegrees(x, y, bottom + h / 2);
      viewer.camera.lookAt(target, new Cesium.HeadingPitchRange(heading, -0.15, Math.max(h * 2.2, 50)));
      viewer.camera.lookAtTransform(Cesium.Matrix4.IDENTITY);
    }, [lon, lat, base + undulation, height, turn]);
    await page.evaluate(() => window.cim.waitForTiles());
    const candidate = { high: await at(0.85), low: await at(0.2) };
    const seen = await picks([candidate.high, candidate.low]);
    tried.push(seen);
    if (seen.every(([layer]) => layer === 'bim_elements')) {
      points = candidate;
      break;
    }
  }
  if (!points) throw new Error(`no side shows the model unhidden: ${JSON.stringify(tried)}`);
  await settled('section-before');
  await page.check('#section-on');
  await page.selectOption('#section-mode', 'horizontal');
  await page.fill('#section-height', String(above));
  await page.dispatchEvent('#section-height', 'input');
  await settled('section-after');
  const cut = await page.evaluate(() => {
    const { cim } = window;
    const planes = cim.layers.tilesets.bim_elements.clippingPlanes;
    return { h_ellipsoidal: cim.section.height, planes: planes?.enabled ? planes.length : 0, ground0: cim.navigation.extent.h_ellipsoidal_min };
  });
  const seenCut = await picks([points.high, points.low]);
  const label = await page.locator('#section-label').innerText();
  // a vertical plane across the view through what its centre shows, moved spec.section.across m
  // towards the camera (the model kept) and away from it (the model cut away)
  await page.selectOption('#section-mode', 'vertical');
  const vertical = {};
  for (const [name, offset] of [['near', -spec.section.across], ['far', spec.section.across]]) {
    await page.fill('#section-height', String(offset));
    await page.dispatchEvent('#section-height', 'input');
    await settled(`section-vertical-${name}`);
    vertical[name] = await picks([points.high, points.low]);
  }
  await page.uncheck('#section-on');
  await settled('section-off');
  return { points, cut, picks: seenCut, label, undulation, vertical };
}

/** spec.pit: {ring: [[lon, lat] x4], depth_m, outside: [lon, lat]}: the pit drawn by clicks with
 * the draw-pit tool, the panel's figures and rows, the clip's state; screenshots with the clip and
 * with it switched off (the same frame otherwise). */
async function excavation() {
  await openViewer();
  const { ring, depth_m: depth, outside } = spec.pit;
  const lon = ring.reduce((a, p) => a + p[0], 0) / ring.length;
  const lat = ring.reduce((a, p) => a + p[1], 0) / ring.length;
  await lookDown(lon, lat, spec.pit.above);
  await page.fill('#excavate-depth', String(depth));
  await page.click('#excavate-draw');
  const ground = (x, y) => page.evaluate(([a, b]) => window.cim.viewer.scene.globe.getHeight(Cesium.Cartographic.fromDegrees(a, b)), [x, y]);
  for (const [i, [x, y]] of ring.entries()) {
    const [px, py] = await onPage(await toCanvas(x, y, await ground(x, y)));
    if (i < ring.length - 1) {
      await page.mouse.click(px, py);
      await page.waitForTimeout(600); // apart: not a double-click
    } else await page.mouse.dblclick(px, py);
  }
  await page.waitForFunction(() => window.cim.excavation.answer !== null && document.getElementById('excavation-figures'));
  await settled('pit');
  const state = await page.evaluate(([x, y]) => {
    const { cim } = window;
    const { scene, camera } = cim.viewer;
    const centre = new Cesium.BoundingSphere(Cesium.Cartesian3.fromDegrees(x, y, 0), 1);
    const clipped = Object.fromEntries(Object.entries(cim.layers.tilesets).map(([name, ts]) => [name, ts.clippingPolygons?.length ?? 0]));
    return {
      ring: cim.excavation.ring,
      globe_polygons: cim.viewer.scene.globe.clippingPolygons?.length ?? 0,
      tilesets: clipped,
      translucent: cim.viewer.scene.globe.translucency.enabled,
      highlighted: [...(cim.layers.highlights.pipelines?.keys() ?? [])],
      // metres a pixel spans at the pit: how near a click can land to the point it aimed at
      pixel_m: camera.getPixelSize(centre, scene.drawingBufferWidth, scene.drawingBufferHeight),
    };
  }, [lon, lat]);
  const figures = await page.$$eval('#excavation-figures tr', (rows) => Object.fromEntries(rows.map((r) => [r.dataset.key, { label: r.querySelector('th').textContent, value: Number(r.querySelector('td').dataset.value), text: r.querySelector('td').textContent }])));
  const pipes = await page.$$eval('#excavation-pipes tr[data-id]', (rows) => rows.map((r) => ({ id: r.dataset.id, cells: [...r.querySelectorAll('td')].map((c) => c.dataset.value ?? c.textContent) })));
  const heads = await page.$$eval('#excavation-pipes th', (ths) => ths.map((th) => th.textContent));
  const owners = await page.$$eval('#excavation-owners li', (lis) => lis.map((li) => li.textContent));
  const probes = { centre: await toCanvas(lon, lat, await ground(lon, lat)), outside: await toCanvas(outside[0], outside[1], await ground(...outside)) };
  // the same frame with the ground's clip switched off
  await page.evaluate(() => {
    window.cim.viewer.scene.globe.clippingPolygons.enabled = false;
  });
  await settled('pit-unclipped');
  await page.evaluate(() => {
    window.cim.viewer.scene.globe.clippingPolygons.enabled = true;
  });
  await settled('pit-again');
  const kept = await page.evaluate(() => window.cim.viewer.entities.values.length);
  await page.click('#tool-clear');
  const cleared = await page.evaluate(() => ({
    entities: window.cim.viewer.entities.values.length,
    globe_polygons: window.cim.viewer.scene.globe.clippingPolygons?.length ?? 0,
  }));
  return { state, figures, pipes, heads, owners, probes, kept, cleared, title: await page.locator('#panel-title').innerText() };
}

/** spec.depth: {lon, lat}: a point on a pipe's axis clicked with the depth tool from straight above. */
async function depth() {
  await openViewer();
  const { lon, lat } = spec.depth;
  await lookDown(lon, lat, spec.depth.above);
  await page.click('#measure-depth');
  await page.evaluate(() => window.cim.waitForTiles());
  await frames(3);
  const box = await canvas.boundingBox();
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  await page.waitForFunction(() => window.cim.lastMeasure?.mode === 'depth');
  await settled('depth');
  return { result: await page.evaluate(() => window.cim.lastMeasure), panel: await page.locator('#panel-body').innerText() };
}

/** spec.height: {ground: [lon, lat], roof: [lon, lat, h_ellipsoidal], above}: the height tool's two
 * clicks, the ground first, then the roof. */
async function height() {
  await openViewer();
  const { ground, roof } = spec.height;
  if (await page.isChecked('#underground')) await page.uncheck('#underground'); // the ground solid again
  await lookDown((ground[0] + roof[0]) / 2, (ground[1] + roof[1]) / 2, spec.height.above);
  await page.click('#measure-height');
  const h = await page.evaluate(([a, b]) => window.cim.viewer.scene.globe.getHeight(Cesium.Cartographic.fromDegrees(a, b)), ground);
  const [gx, gy] = await onPage(await toCanvas(ground[0], ground[1], h));
  await page.mouse.click(gx, gy);
  await page.waitForTimeout(600);
  const [rx, ry] = await onPage(await toCanvas(...roof));
  await page.mouse.click(rx, ry);
  await page.waitForFunction(() => window.cim.lastMeasure?.mode === 'height');
  await settled('height');
  return { result: await page.evaluate(() => window.cim.lastMeasure), panel: await page.locator('#panel-body').innerText() };
}

const STEPS = { section, excavation, depth, height };
await runSteps(browser, STEPS, spec.steps, result, (name) => page.screenshot({ path: join(spec.artifacts, `cut-${name}-failed.png`) }));
