// Drive the viewer's working tools (API docs, navigation, measuring, cutting, results, cards) in
// Debian's headless Chromium and report what happened as one JSON object.
// Usage: node tests/e2e/work.mjs '<json spec>'   spec: {url, artifacts, steps: [...], ...per step}
import { join } from 'node:path';
import { logIn, openPage, runSteps } from './browser.mjs';

const spec = JSON.parse(process.argv[2]);
const result = { steps: {} };
const { browser, page } = await openPage(spec, result);
const started = Date.now();
const mark = (what) => process.stderr.write(`${((Date.now() - started) / 1000).toFixed(1)} s ${what}\n`);
const shot = (name) => page.screenshot({ path: join(spec.artifacts, `work-${name}.png`) });

/** How many operations the server's OpenAPI document has (the pages render them in chunks). */
async function operationCount() {
  return page.evaluate(async () => {
    const methods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
    const doc = await (await fetch('/openapi.json')).json();
    return Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).filter((m) => methods.includes(m)).length, 0);
  });
}

/** The [key, ...] rows ``read`` returns for what is rendered, gathered while scrolling the page from
 * top to bottom (the pages draw only the operations near the viewport), until ``count`` distinct
 * rows are seen or the bottom is reached twice with nothing new. */
async function gatherWhileScrolling(read, count) {
  const seen = new Map();
  await page.evaluate(() => window.scrollTo(0, 0));
  for (let idle = 0, rounds = 0; idle < 2 && seen.size < count && rounds < 400; rounds += 1) {
    await page.waitForTimeout(150);
    const before = seen.size;
    for (const row of await read()) seen.set(JSON.stringify(row), row);
    const atBottom = await page.evaluate(() => {
      window.scrollBy(0, Math.round(window.innerHeight * 0.8));
      return window.scrollY + window.innerHeight >= document.documentElement.scrollHeight - 2;
    });
    idle = atBottom && seen.size === before ? idle + 1 : 0;
  }
  return [...seen.values()];
}

/** Swagger UI at /docs: every operation it lists as [METHOD, path]. */
async function docs() {
  await page.goto(new URL('docs', spec.url).href, { waitUntil: 'load' });
  await page.locator('.opblock').first().waitFor({ state: 'visible' });
  await shot('docs');
  const title = await page.locator('.info .title').innerText();
  const operations = await gatherWhileScrolling(() => page.$$eval('.opblock', (els) =>
    els.map((e) => [e.querySelector('.opblock-summary-method').innerText.trim(), e.querySelector('.opblock-summary-path').dataset.path])),
  await operationCount());
  return { title, operations };
}

/** ReDoc at /redoc: the operation ids of the sections it rendered. */
async function redoc() {
  await page.goto(new URL('redoc', spec.url).href, { waitUntil: 'load' });
  await page.locator('[data-section-id*="operation/"]').first().waitFor({ state: 'attached' });
  await shot('redoc');
  const title = await page.locator('h1').first().innerText();
  const sections = await gatherWhileScrolling(() => page.$$eval('[data-section-id*="operation/"]', (els) =>
    [...new Set(els.map((e) => e.dataset.sectionId.split('operation/')[1]))]), await operationCount());
  return { title, sections };
}

/** Log in through the page's dialog as spec.login ([user, password]), when given. */
async function login() {
  if (!spec.login) return;
  await logIn(page, spec.login);
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
  // the statistics of a frame drawn now (with on-demand rendering the last frame may be an empty one)
  const stats = await page.evaluate(() => new Promise((resolve) => {
    const { scene } = window.cim.viewer;
    const remove = scene.postRender.addEventListener(() => {
      remove();
      const s = window.cim.layers.tilesets.buildings.statistics;
      resolve({ selected: s.selected, commands: s.numberOfCommands });
    });
    scene.requestRender();
  }));
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
  await page.waitForFunction(() => window.cim.viewer.camera._currentFlight);
  await page.waitForFunction(() => !window.cim.viewer.camera._currentFlight);
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
  await page.waitForFunction(() => !window.cim.viewer.camera._currentFlight);
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
    if (await page.locator('#panel').isVisible()) await page.click('#panel-close');
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

const flown = () => page.waitForFunction(() => !window.cim.viewer.camera._currentFlight);
const cameraGround = () => page.evaluate(() => {
  const c = window.cim.viewer.camera.positionCartographic;
  return [Cesium.Math.toDegrees(c.longitude), Cesium.Math.toDegrees(c.latitude), window.cim.viewer.camera.pitch];
});

/** A pipe burst: the burst pipe's colour, a click on the first valve and the first building of the
 * result list (where the camera went, the colour given); a profile drawn with its chart; what stays. */
async function results() {
  await openViewer();
  await login();
  await page.selectOption('#incident-type', 'pipe_burst');
  await page.fill('#incident-pipe', spec.pipe);
  await page.click('#incident-run');
  await page.locator('#valves').waitFor({ state: 'attached' });
  const colourOf = (layer, id) => page.evaluate(([l, i]) => window.cim.layers.highlights[l]?.get(i)?.toCssHexString() ?? null, [layer, id]);
  const answer = { burst_colour: await colourOf('pipelines', spec.pipe), clicked: {} };
  answer.affected_colour = await page.evaluate((burst) => {
    const other = [...window.cim.layers.highlights.pipelines.entries()].find(([id]) => id !== burst);
    return other ? other[1].toCssHexString() : null;
  }, spec.pipe);
  answer.valves = await page.$$eval('#valves button', (els) => els.map((e) => e.dataset.id));
  answer.buildings = await page.$$eval('#affected-buildings button', (els) => els.map((e) => e.dataset.id));
  for (const [list, layer] of [['#valves', 'pipe_nodes'], ['#affected-buildings', 'buildings']]) {
    const button = page.locator(`${list} button`).first();
    if (!(await button.count())) continue;
    const id = await button.getAttribute('data-id');
    await button.click();
    await page.waitForFunction(([l, i]) => window.cim.incidents.focused?.id === i && window.cim.incidents.focused.layer === l, [layer, id]);
    await flown();
    await page.evaluate(() => window.cim.waitForTiles());
    await shot(`results-${layer}`);
    answer.clicked[layer] = { id, camera: await cameraGround(), colour: await colourOf(layer, id) };
  }
  // a profile across the city: its line stays with its chart, and after the next tool starts
  await page.click('#tool-clear');
  const [a, b] = spec.profile;
  await lookDown([(a[0] + b[0]) / 2, (a[1] + b[1]) / 2], spec.profile_height);
  if (await page.locator('#panel').isVisible()) await page.click('#panel-close');
  await page.click('#tool-profile');
  const [x0, y0] = await onPage(a);
  await page.mouse.click(x0, y0);
  await page.waitForTimeout(700);
  const [x1, y1] = await onPage(b);
  await page.mouse.dblclick(x1, y1);
  await page.waitForFunction(() => window.cim.profileChart && window.cim.lastProfile);
  await page.waitForTimeout(300);
  await shot('results-profile');
  const chartBox = await page.locator('#profile-chart').boundingBox();
  answer.profile = await page.evaluate(() => {
    const option = window.cim.profileChart.getOption();
    const series = Object.fromEntries(option.series.map((s) => [s.id, s.data.length]));
    return { x_name: option.xAxis[0].name, y_name: option.yAxis[0].name, series, answer: window.cim.lastProfile };
  });
  answer.profile.size = [chartBox.width, chartBox.height];
  answer.profile.axis_texts = await page.$$eval('#profile-chart svg text', (els) => els.map((e) => e.textContent));
  const lines = () => page.evaluate(() => window.cim.viewer.entities.values.filter((e) => e.polyline).length);
  answer.lines_after_profile = await lines();
  await page.click('#tool-polygon');
  answer.lines_after_next_tool = await lines();
  await page.click('#tool-clear');
  answer.lines_after_clear = await lines();
  return answer;
}

/** For each of spec.cards ({layer, id}): the feature's panel as a click shows it (in Chinese): its
 * text, and the text of every tab when it is a record card. */
async function cards() {
  await openViewer();
  await login();
  const answers = [];
  for (const { layer, id } of spec.cards) {
    await page.evaluate(([l, i]) => window.cim.picker.showFeature(l, i), [layer, id]);
    await page.locator('#panel').waitFor({ state: 'visible' });
    const tabs = page.locator('#panel [role="tab"]');
    const texts = [await page.locator('#panel').innerText()];
    for (let i = 0; i < (await tabs.count()); i += 1) {
      await tabs.nth(i).click();
      texts.push(await page.locator('#panel [role="tabpanel"]:not([hidden]):not([aria-hidden="true"])').innerText());
    }
    await shot(`card-${layer}`);
    answers.push({ layer, id, texts, tabs: await tabs.count(), title: await page.locator('#panel-title').innerText() });
  }
  return answers;
}

const STEPS = { docs, redoc, navigate, share, coordinates, measure, results, cards };
await runSteps(browser, STEPS, spec.steps, result, (name) => shot(`${name}-failed`));
