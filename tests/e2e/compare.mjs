// Compare in Debian's headless Chromium: open the section, choose the model's two versions; swipe
// (drag the split line, screenshot the view split between the huts, then all A and all B), the
// version diff (each feature's colour in both tilesets, the legend, a screenshot) and side by side
// (the two cameras, a drag in the second view, a screenshot); a thematic pair by swipe (each side's
// features' colours and split direction). Sites are given as lon/lat and a
// height above the ground and put on the screen with the page's own camera. Prints one JSON line.
// Usage: node tests/e2e/compare.mjs '<json spec>'
//   spec: {url, artifacts, steps, model_id, versions: [a, b], version_ids: [a, b],
//          camera: [lon, lat, above_m], points: {name: [lon, lat, above_m]}, themes: [a, b]}
import { openPage, runSteps } from './browser.mjs';
import { join } from 'node:path';

const spec = JSON.parse(process.argv[2]);
const result = { steps: {}, bad_responses: [] };
const { browser, page } = await openPage(spec, result);
page.on('response', (r) => r.status() >= 400 && result.bad_responses.push(`${r.status()} ${r.url()}`));
const SAMPLE = 5; // a site's colour: the mean over a square of 2 * SAMPLE + 1 pixels around it

/** Resolves after two frames in a row where every view's globe and shown tilesets have all their tiles. */
const settled = () =>
  page.evaluate(() => {
    const { Cesium } = window;
    const views = [window.cim.viewer, window.cim.compare.module?.session?.pane].filter(Boolean);
    return Promise.all(
      views.map(
        (viewer) =>
          new Promise((resolve) => {
            let frames = 0;
            let last = null;
            const remove = viewer.scene.postRender.addEventListener(() => {
              const { primitives } = viewer.scene;
              let done = viewer.scene.globe.tilesLoaded;
              for (let i = 0; i < primitives.length; i += 1) {
                const p = primitives.get(i);
                if (p instanceof Cesium.Cesium3DTileset && p.show && !p.tilesLoaded) done = false;
              }
              const still = last && Cesium.Cartesian3.equals(last, viewer.camera.positionWC);
              last = Cesium.Cartesian3.clone(viewer.camera.positionWC);
              frames = done && still ? frames + 1 : 0;
              if (frames >= 2) {
                remove();
                resolve();
              }
            });
          }),
      ),
    );
  });

/** Show the chosen pair in a mode and wait until the section says it is shown. */
async function show(mode) {
  const before = await page.evaluate(() => window.cim.compare.shown ?? 0);
  await page.click(`#compare-${mode}`);
  await page.waitForFunction(([n, m]) => window.cim.compare.shown > n && window.cim.compare.mode === m, [before, mode]);
}

/** The camera straight above the spec's site, looking down, north up; then every tile drawn. */
async function lookDown() {
  await page.evaluate(([lon, lat, above]) => {
    const { Cesium } = window;
    const { camera, scene } = window.cim.viewer;
    const ground = scene.globe.getHeight(Cesium.Cartographic.fromDegrees(lon, lat)) ?? 0;
    camera.setView({
      destination: Cesium.Cartesian3.fromDegrees(lon, lat, ground + above),
      orientation: { heading: 0, pitch: -Cesium.Math.PI_OVER_TWO, roll: 0 },
    });
  }, spec.camera);
  await settled();
}

/** The spec's sites on the screen (page pixels) through a view's camera: the page's, or the second view's. */
const project = (pane = false) =>
  page.evaluate(
    ([points, pane]) => {
      const { Cesium } = window;
      const viewer = pane ? window.cim.compare.module.session.pane : window.cim.viewer;
      const box = viewer.canvas.getBoundingClientRect();
      return Object.fromEntries(
        Object.entries(points).map(([name, [lon, lat, above]]) => {
          const ground = viewer.scene.globe.getHeight(Cesium.Cartographic.fromDegrees(lon, lat)) ?? 0;
          const at = Cesium.SceneTransforms.worldToWindowCoordinates(viewer.scene, Cesium.Cartesian3.fromDegrees(lon, lat, ground + above));
          return [name, [box.left + at.x, box.top + at.y]];
        }),
      );
    },
    [spec.points, pane],
  );

/** A screenshot (saved as compare-<name>.png) and the mean colour [r, g, b] around each site. */
async function colours(name, sites) {
  const png = await page.screenshot({ path: join(spec.artifacts, `compare-${name}.png`) });
  return page.evaluate(
    async ([b64, sites, r]) => {
      const image = new Image();
      image.src = `data:image/png;base64,${b64}`;
      await image.decode();
      const canvas = Object.assign(document.createElement('canvas'), { width: image.width, height: image.height });
      const context = canvas.getContext('2d');
      context.drawImage(image, 0, 0);
      return Object.fromEntries(
        Object.entries(sites).map(([site, [x, y]]) => {
          const { data } = context.getImageData(Math.round(x) - r, Math.round(y) - r, 2 * r + 1, 2 * r + 1);
          const sum = [0, 0, 0];
          for (let i = 0; i < data.length; i += 4) for (let c = 0; c < 3; c += 1) sum[c] += data[i + c];
          return [site, sum.map((s) => s / (data.length / 4))];
        }),
      );
    },
    [png.toString('base64'), sites, SAMPLE],
  );
}

/** Drag the split line's handle with the mouse to page x `to`; the scene's split position after. */
async function dragLine(to) {
  const box = await page.locator('#compare-split .handle').boundingBox();
  const { width } = page.viewportSize();
  // its middle, or the part on the screen when the line is at the view's right edge
  const [x, y] = [Math.min(box.x + box.width / 2, width - 3), box.y + box.height / 2];
  await page.mouse.move(x, y);
  await page.mouse.down();
  await page.mouse.move(to, y, { steps: 8 });
  await page.mouse.up();
  await settled();
  return page.evaluate(() => window.cim.viewer.scene.splitPosition);
}

/** Each shown side ({a, b}): its tileset's layer, split direction and every loaded feature's colour
 * [r, g, b, a] (0-1) and whether it shows, by the feature's id. */
const sideFeatures = () =>
  page.evaluate(() => {
    const out = {};
    for (const side of window.cim.compare.module.session.sides) {
      const features = {};
      const walk = (tile) => {
        for (let i = 0; i < (tile.content?.featuresLength ?? 0); i += 1) {
          const feature = tile.content.getFeature(i);
          const c = feature.color;
          features[feature.getProperty('id')] = { color: [c.red, c.green, c.blue, c.alpha], show: feature.show };
        }
        tile.children.forEach(walk);
      };
      side.tilesets.forEach((ts) => walk(ts.root));
      out[side.side] = { layer: side.name, split: side.tilesets[0].splitDirection, features };
    }
    return out;
  });

const steps = {
  async swipe() {
    await show('swipe');
    await lookDown();
    const globe = await page.locator('#globe').boundingBox();
    const points = await project();
    // the line dragged between the south hut's two places, then to either edge
    const target = (points.south_a[0] + points.south_b[0]) / 2;
    const split = await dragLine(target);
    const seen = { split: await colours('swipe', points) };
    const rightEdge = await dragLine(globe.x + globe.width + 40);
    seen.all_a = await colours('swipe-a', points);
    const leftEdge = await dragLine(globe.x - 40);
    seen.all_b = await colours('swipe-b', points);
    return { globe, points, target, split, edges: [leftEdge, rightEdge], colours: seen };
  },

  async diff() {
    await show('diff');
    await lookDown();
    const features = await sideFeatures();
    const legend = await page.$$eval('#compare-diff-legend li[data-change]', (items) =>
      Object.fromEntries(items.map((li) => [li.dataset.change, [li.querySelector('[data-i18n]').textContent, li.querySelector('.count').textContent]])),
    );
    return { features, legend, colours: await colours('diff', await project()) };
  },

  async side() {
    await show('side');
    await lookDown();
    const apart = () =>
      page.evaluate(() => {
        const { Cesium } = window;
        const [one, two] = [window.cim.viewer, window.cim.compare.module.session.pane];
        return Cesium.Cartesian3.distance(one.camera.positionWC, two.camera.positionWC);
      });
    const position = () => page.evaluate(() => window.Cesium.Cartesian3.clone(window.cim.viewer.camera.positionWC));
    const apartM = await apart();
    const [left, right] = [await project(), await project(true)];
    const seen = await colours('side', { ...Object.fromEntries(Object.entries(left).map(([k, v]) => [`left.${k}`, v])), ...Object.fromEntries(Object.entries(right).map(([k, v]) => [`right.${k}`, v])) });
    const split = (prefix) => Object.fromEntries(Object.entries(seen).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
    // a drag in the second view moves the first
    const before = await position();
    const pane = await page.locator('#compare-pane canvas').boundingBox();
    const [x, y] = [pane.x + pane.width / 2, pane.y + pane.height / 2];
    await page.mouse.move(x, y);
    await page.mouse.down();
    await page.mouse.move(x + 120, y + 40, { steps: 8 });
    await page.mouse.up();
    await settled();
    const after = await position();
    const moved = Math.hypot(after.x - before.x, after.y - before.y, after.z - before.z);
    return { apart_m: apartM, moved_m: moved, apart_after_drag_m: await apart(), colours: { left: split('left.'), right: split('right.') } };
  },

  async themes() {
    await page.selectOption('#compare-subject', 'themes');
    await page.selectOption('#compare-theme-a', spec.themes[0]);
    await page.selectOption('#compare-theme-b', spec.themes[1]);
    await show('swipe');
    await settled();
    return sideFeatures();
  },
};

const started = Date.now();
await page.goto(spec.url, { waitUntil: 'load' });
await page.waitForFunction(() => window.cim && window.cim.ready === true);
await page.evaluate(() => window.cim.allLoaded);
await page.click('#compare > summary');
await page.waitForFunction(() => window.cim.compare.ready === true);
await page.selectOption('#compare-model', String(spec.model_id));
await page.selectOption('#compare-a', String(spec.versions[0]));
await page.selectOption('#compare-b', String(spec.versions[1]));
result.loaded_ms = Date.now() - started;
const timed = Object.fromEntries(
  Object.entries(steps).map(([name, run]) => [
    name,
    async () => {
      const t0 = Date.now();
      return { ...(await run()), ms: Date.now() - t0 };
    },
  ]),
);
await runSteps(browser, timed, spec.steps, result, (name) => page.screenshot({ path: join(spec.artifacts, `compare-${name}-failed.png`) }));
