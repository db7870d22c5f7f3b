// Drive the viewer's working tools (API docs, navigation, measuring, cutting, results, cards) in
// Debian's headless Chromium and report what happened as one JSON object.
// Usage: node tests/e2e/work.mjs '<json spec>'   spec: {url, artifacts, steps: [...], ...per step}
import { join } from 'node:path';
import { openPage, runSteps } from './browser.mjs';

const spec = JSON.parse(process.argv[2]);
const result = { steps: {} };
const { browser, page } = await openPage(spec, result);
const started = Date.now();
const mark = (what) => process.stderr.write(`${((Date.now() - started) / 1000).toFixed(1)} s ${what}\n`);
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

async function openViewer(url = spec.url) {
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForFunction(() => window.cim && window.cim.ready === true);
  await page.evaluate(() => window.cim.allLoaded);
}

const camera = () => page.evaluate(() => {
  const { viewer, navigation } = window.cim;
  const c = viewer.camera.positionCartographic;
  const target = navigation.target();
  return {
    state: window.cim.view.current().camera,
    height: c.height,
    to_target: target ? Cesium.Cartesian3.distance(viewer.camera.positionWC, target) : null,
    to_city: Cesium.Cartesian3.distance(viewer.camera.positionWC, navigation.sphere.center),
    city_radius: navigation.sphere.radius,
    limits: [viewer.scene.screenSpaceCameraController.minimumZoomDistance, viewer.scene.screenSpaceCameraController.maximumZoomDistance],
  };
});

/** Rendered buildings once every tile of the view is in: tiles selected, draw commands, and the
 * share of the canvas that is not the empty background. */
async function cityShown(name) {
  await page.evaluate(() => window.cim.waitForTiles());
  await page.waitForTimeout(200);
  const png = await page.locator('#globe canvas').screenshot({ path: join(spec.artifacts, `work-${name}.png`) });
  const stats = await page.evaluate(() => {
    const s = window.cim.layers.tilesets.buildings.statistics;
    return { selected: s.selected, commands: s.numberOfCommands };
  });
  return { ...stats, png: png.length };
}

/** Wheel notches at the centre of the globe (negative: in). */
async function wheel(notches, deltaY) {
  const box = await page.locator('#globe canvas').boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  for (let i = 0; i < notches; i += 1) {
    await page.mouse.wheel(0, deltaY);
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(r)));
  }
  // the wheel's inertia: wait until the camera stops moving
  await page.waitForFunction(() => {
    const now = window.cim.viewer.camera.positionWC;
    const last = window.__lastCamera;
    window.__lastCamera = Cesium.Cartesian3.clone(now);
    return last && Cesium.Cartesian3.distance(now, last) < 0.01;
  }, null, { polling: 200 });
}

/** Home, zoom, compass, scale bar, coordinates, 20 wheel notches in and out, keys, bookmarks. */
async function navigate() {
  await openViewer();
  mark('const home = await camera();');
  const home = await camera();
  const box = await page.locator('#globe canvas').boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.waitForFunction(() => /E [\d.]+ N [\d.]+/.test(document.getElementById('coordinates').textContent));
  const coordinates = await page.locator('#coordinates').innerText();
  const readout = await page.evaluate(() => window.cim.navigation.readout);
  const scale = await page.$eval('#scale-bar', (el) => ({
    metres: Number(el.dataset.metres), per_pixel: Number(el.dataset.metresPerPixel), width: el.querySelector('.bar').getBoundingClientRect().width, label: el.querySelector('.label').textContent,
  }));
  mark("const loaded = await cityShown('nav-home');");
  const loaded = await cityShown('nav-home');
  await wheel(20, -240);
  mark('const zoomedIn = {');
  const zoomedIn = { camera: await camera(), city: await cityShown('nav-wheel-in') };
  await wheel(20, 240);
  mark('const zoomedOut = {');
  const zoomedOut = { camera: await camera(), city: await cityShown('nav-wheel-out') };
  await page.click('#nav-home');
  await page.waitForFunction(() => !window.cim.viewer.camera._flight);
  await page.waitForTimeout(1200);
  mark('const homeAgain');
  const homeAgain = await camera();
  await page.click('#nav-zoom-in');
  const zoomButton = await camera();
  // turn the view, the needle turns with it; the compass turns it back north
  await page.evaluate(() => {
    const { camera: cam } = window.cim.viewer;
    cam.setView({ orientation: { heading: 1.0, pitch: cam.pitch, roll: 0 } });
  });
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  const needleTurned = await page.$eval('#compass-needle', (el) => el.style.transform);
  await page.click('#nav-compass');
  mark('const afterCompass');
  const afterCompass = await page.evaluate(() => window.cim.viewer.camera.heading);
  // keys: + goes closer, h goes home
  await page.locator('#globe canvas').click({ position: { x: 5, y: box.height - 60 } }).catch(() => null);
  await page.evaluate(() => document.activeElement?.blur());
  const beforeKey = await camera();
  await page.keyboard.press('+');
  const afterPlus = await camera();
  await page.keyboard.press('h');
  await page.waitForTimeout(1500);
  mark('const afterH');
  const afterH = await camera();
  // a bookmark of a turned view, kept over a reload
  await page.evaluate(() => {
    const { camera: cam } = window.cim.viewer;
    cam.setView({ orientation: { heading: 0.5, pitch: -0.6, roll: 0 } });
  });
  const marked = await camera();
  await page.click('#views summary');
  await page.fill('#bookmark-name', '南门');
  await page.click('#bookmark-add');
  await openViewer();
  mark('const listed');
  await page.click('#views summary');
  const listed = await page.$$eval('#bookmark-list .go', (els) => els.map((e) => e.textContent));
  await page.click('#bookmark-list .go');
  const restored = await camera();
  return {
    home, coordinates, readout, scale, loaded, zoomed_in: zoomedIn, zoomed_out: zoomedOut, home_again: homeAgain, zoom_button: zoomButton,
    needle: needleTurned, heading_after_compass: afterCompass, before_key: beforeKey, after_plus: afterPlus, after_h: afterH,
    marked, listed, restored,
  };
}

/** A view made (camera on a building, pipes shown, parcels hidden, a building selected, the profile
 * tool open), shared as a link, and that link opened in a new page. */
async function share() {
  await openViewer();
  await page.evaluate((code) => window.cim.flyToFeature('buildings', code, 400), spec.building);
  await page.evaluate(() => window.cim.viewer.camera.twistLeft(0));
  await page.check('#layers-body input[data-layer="pipelines"]');
  await page.uncheck('#layers-body input[data-layer="parcels"]');
  await page.evaluate((code) => window.cim.picker.showFeature('buildings', code), spec.building);
  await page.click('#tool-profile');
  const made = await page.evaluate(() => window.cim.view.current());
  await page.click('#views summary');
  await page.click('#share');
  const url = await page.inputValue('#share-url');
  await page.goto('about:blank');
  await openViewer(url);
  await page.evaluate(() => window.cim.linked);
  await page.evaluate(() => window.cim.waitForTiles());
  await page.locator('#globe canvas').screenshot({ path: join(spec.artifacts, 'work-share-opened.png') });
  return {
    made,
    url,
    opened: await page.evaluate(() => window.cim.view.current()),
    panel_title: await page.locator('#panel-title').innerText(),
    highlighted: await page.evaluate(() => [...(window.cim.layers.highlights.buildings?.keys() ?? [])]),
    tileset_shown: await page.evaluate(() => Object.fromEntries(Object.entries(window.cim.layers.tilesets).map(([k, ts]) => [k, ts.show]))),
  };
}

/** For each of spec.places ({q}): type the coordinates, pick the suggestion; the camera and pin. */
async function coordinates() {
  await openViewer();
  const answers = [];
  for (const place of spec.places) {
    const before = await page.evaluate(() => window.cim.events.picked);
    await page.fill('#search-input', '');
    await page.locator('#search-input').pressSequentially(place.q, { delay: 20 });
    const option = page.locator('#search-list [role="option"][data-kind="coordinates"]');
    await option.waitFor({ state: 'visible' });
    const suggestions = await page.$$eval('#search-list [role="option"]', (els) => els.map((e) => e.innerText));
    await option.click();
    await page.waitForFunction((k) => window.cim.events.picked > k, before);
    answers.push({
      q: place.q,
      suggestions,
      camera: await page.evaluate(() => {
        const c = window.cim.viewer.camera.positionCartographic;
        return [Cesium.Math.toDegrees(c.longitude), Cesium.Math.toDegrees(c.latitude), c.height];
      }),
      pin: await page.evaluate(() => {
        const c = Cesium.Cartographic.fromCartesian(window.cim.search.pin.position.getValue(Cesium.JulianDate.now()));
        return [Cesium.Math.toDegrees(c.longitude), Cesium.Math.toDegrees(c.latitude)];
      }),
    });
  }
  await page.evaluate(() => window.cim.waitForTiles());
  await shot('coordinates');
  return answers;
}

/** Look straight down from `height` m above the ground at lon/lat; resolves once every tile is in. */
async function lookDown([lon, lat], height) {
  await page.evaluate(([x, y, h]) => {
    const { viewer } = window.cim;
    const ground = viewer.scene.globe.getHeight(Cesium.Cartographic.fromDegrees(x, y)) ?? 0;
    viewer.camera.setView({ destination: Cesium.Cartesian3.fromDegrees(x, y, ground + h), orientation: { heading: 0, pitch: -Cesium.Math.PI_OVER_TWO, roll: 0 } });
  }, [lon, lat, height]);
  await page.evaluate(() => window.cim.waitForTiles());
}

/** Where on the page a point (lon, lat, metres above the terrain) is drawn. */
async function onPage([lon, lat, above = 0]) {
  const box = await page.locator('#globe canvas').boundingBox();
  const [x, y] = await page.evaluate(([x, y, up]) => {
    const { scene } = window.cim.viewer;
    const ground = scene.globe.getHeight(Cesium.Cartographic.fromDegrees(x, y)) ?? 0;
    const w = Cesium.SceneTransforms.worldToWindowCoordinates(scene, Cesium.Cartesian3.fromDegrees(x, y, ground + up));
    return [w.x, w.y];
  }, [lon, lat, above]);
  return [box.x + x, box.y + y];
}

/** Click the points of spec.measure.{distance, area} with the measuring tools (a double-click on
 * the last one finishes); the results the viewer shows, and the marks left after the next tool. */
async function measure() {
  await openViewer();
  const answers = {};
  for (const mode of ['distance', 'area']) {
    const points = spec.measure[mode];
    const lon = points.reduce((a, p) => a + p[0], 0) / points.length;
    const lat = points.reduce((a, p) => a + p[1], 0) / points.length;
    await lookDown([lon, lat], spec.measure.height);
    await page.click(`#measure-${mode}`);
    for (const [i, point] of points.entries()) {
      const [x, y] = await onPage(point);
      if (i < points.length - 1) {
        await page.mouse.click(x, y);
        await page.waitForTimeout(700); // apart: not a double-click
      } else await page.mouse.dblclick(x, y);
    }
    await page.waitForFunction((m) => window.cim.lastMeasure?.mode === m, mode);
    await shot(`measure-${mode}`);
    answers[mode] = {
      result: await page.evaluate(() => window.cim.lastMeasure),
      panel: await page.locator('#panel-body').innerText(),
    };
  }
  answers.entities_kept = await page.evaluate(() => window.cim.viewer.entities.values.length);
  await page.click('#tool-clear');
  answers.entities_after_clear = await page.evaluate(() => window.cim.viewer.entities.values.length);
  return answers;
}

/** The tallest building from the south, a little above the ground; a section at half its height:
 * screenshots before and after, and where on them points at 20 % and 85 % of its height are. */
async function section() {
  await openViewer();
  const { lon, lat, height_m: height } = spec.section;
  await page.evaluate(([x, y, h]) => {
    const { viewer } = window.cim;
    const ground = viewer.scene.globe.getHeight(Cesium.Cartographic.fromDegrees(x, y)) ?? 0;
    const target = Cesium.Cartesian3.fromDegrees(x, y, ground + h / 2);
    viewer.camera.lookAt(target, new Cesium.HeadingPitchRange(0, -0.2, Math.max(h * 3, 120)));
    viewer.camera.lookAtTransform(Cesium.Matrix4.IDENTITY);
  }, [lon, lat, height]);
  await page.evaluate(() => window.cim.waitForTiles());
  await page.waitForTimeout(300);
  const canvas = page.locator('#globe canvas');
  const box = await canvas.boundingBox();
  const inCanvas = async (above) => {
    const [x, y] = await onPage([lon, lat, above]);
    return [Math.round(x - box.x), Math.round(y - box.y)];
  };
  const points = { high: await inCanvas(height * 0.85), low: await inCanvas(height * 0.2) };
  await canvas.screenshot({ path: join(spec.artifacts, 'work-section-before.png') });
  await page.check('#section-on');
  await page.fill('#section-height', String(height / 2));
  await page.dispatchEvent('#section-height', 'input');
  await page.evaluate(() => window.cim.waitForTiles());
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  await page.waitForTimeout(300);
  await canvas.screenshot({ path: join(spec.artifacts, 'work-section-after.png') });
  const cut = await page.evaluate(() => ({ height: window.cim.section.height, planes: window.cim.layers.tilesets.buildings.clippingPlanes?.length ?? 0 }));
  await page.uncheck('#section-on');
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  await page.waitForTimeout(300);
  await canvas.screenshot({ path: join(spec.artifacts, 'work-section-off.png') });
  return { points, cut, label: await page.locator('#section-label').innerText() };
}

const STEPS = { docs, redoc, navigate, share, coordinates, measure, section };
await runSteps(browser, STEPS, spec.steps, result, (name) => shot(`${name}-failed`));
