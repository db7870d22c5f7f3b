// Drive the viewer in Debian's headless Chromium and report what happened as one JSON object.
// Usage: node tests/e2e/viewer.mjs '<json spec>'
// spec: {url, artifacts, steps: [...], building?, pipe?, ifc?, project?, login?: [user, password],
//        searches?: [{q, kind, id}], break?: [path substrings answered 500],
//        slow?: [path substrings delayed slow_ms], utility?: {code, ids} (pipes of that utility to look at)}
// Playwright gives the browser a throw-away profile. Every request is logged; any request to a host other than 127.0.0.1 is aborted and reported.
import { join } from 'node:path';
import { logIn, openPage } from './browser.mjs';

const spec = JSON.parse(process.argv[2]);
const TIMEOUT = spec.timeout_ms ?? 90000;
const result = { steps: {} };
// requests spec.break names are answered 500, those spec.slow names late
const { browser, page } = await openPage({ ...spec, timeout_ms: TIMEOUT }, result, async (route, url) => {
  if ((spec.break ?? []).some((part) => url.pathname.includes(part))) {
    await route.fulfill({ status: 500, contentType: 'application/problem+json', body: '{"detail":"broken on purpose by the test"}' });
    return true;
  }
  if ((spec.slow ?? []).some((part) => url.pathname.includes(part))) {
    await new Promise((resolve) => setTimeout(resolve, spec.slow_ms ?? 6000));
  }
  return false;
});

const shot = (name) => page.screenshot({ path: join(spec.artifacts, `viewer-${name}.png`) });
const bannerText = () => page.locator('#banner').innerText();
const panelText = () => page.locator('#panel-body').innerText();

async function load() {
  await page.goto(spec.url, { waitUntil: 'load' });
  await page.waitForFunction(() => window.cim && window.cim.ready === true);
  await page.waitForFunction(() => window.cim.metrics.firstAllLoadedMs !== undefined).catch(() => null);
  const ms = await page.evaluate(() => window.cim.metrics.firstAllLoadedMs ?? null);
  // let the allTilesLoaded events of the first full frame arrive
  await page.waitForTimeout(300);
  await shot('01-loaded');
  const initial = {
    first_all_loaded_ms: ms,
    initial_tilesets: await page.evaluate(() => Object.keys(window.cim.layers.tilesets)),
    globe_tiles_loaded: await page.evaluate(() => window.cim.viewer.scene.globe.tilesLoaded),
    banner: await bannerText(),
    draped: await page.evaluate(() => window.cim.layers.drapes.counts),
    // a draped layer's checkbox redraws the one draped image without it, and with it again
    drape_toggle: await page.evaluate(() => {
      const { drapes } = window.cim.layers;
      const box = document.querySelector('#layers-body input[data-layer="parcels"]');
      const before = drapes.layer;
      box.click();
      const off = { shown: window.cim.layers.isShown('parcels'), replaced: drapes.layer !== before };
      box.click();
      return { ...off, back: window.cim.layers.isShown('parcels'), imagery_layers: window.cim.viewer.imageryLayers.length };
    }),
    // the shipped BRDF table in use: CesiumJS's generator has a texture but never built its draw command
    brdf_lut_shipped: await page.evaluate(() => {
      const generator = window.cim.viewer.scene._brdfLutGenerator;
      return Boolean(generator.colorTexture) && generator._drawCommand === undefined;
    }),
  };
  return { ...initial, ...(await underground()) };
}

/** Underground mode on (the layers below the ground load), all their tiles, then off again. */
async function underground() {
  await page.check('#underground');
  await page.waitForFunction(() => ['pipelines', 'pipe_nodes', 'tunnel_compartments'].every((l) => l in window.cim.layers.tilesets));
  await page.evaluate(() => window.cim.waitForTiles());
  await page.waitForTimeout(300);
  await shot('01b-underground');
  const answer = {
    tilesets: await page.evaluate(() => Object.keys(window.cim.layers.tilesets)),
    all_tiles_loaded: await page.evaluate(() => window.cim.events.allTilesLoaded),
    underground_checked: await page.$$eval('#layers-body input[data-layer]:checked', (els) => els.map((e) => e.dataset.layer)),
  };
  await page.uncheck('#underground');
  return answer;
}

async function building() {
  await page.evaluate((code) => {
    window.cim.flown = false;
    window.cim.flyToFeature('buildings', code).then(() => { window.cim.flown = true; });
  }, spec.building);
  await page.waitForFunction(() => window.cim.flown === true);
  await page.waitForTimeout(300);
  const box = await page.locator('#globe canvas').boundingBox();
  const before = await page.evaluate(() => window.cim.events.identified);
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  await page.waitForFunction((n) => window.cim.events.identified > n, before);
  await page.locator('#panel').waitFor({ state: 'visible' });
  await shot('02-building');
  const panel = await panelText();
  // the record card's tab that holds the contractor (the project's) is opened to read it
  const pane = page.locator('#panel-body [role="tabpanel"]:has(section[data-key="contractor"])').first();
  const tab = await pane.getAttribute('aria-labelledby').catch(() => null);
  if (tab) await page.click(`#${tab}`);
  return {
    title: await page.locator('#panel-title').innerText(),
    panel,
    contractor: await page.locator('#panel-body section[data-key="contractor"]').first().innerText().catch(() => null),
    picked: await page.evaluate(() => window.cim.picker.last),
  };
}

async function incident() {
  await page.selectOption('#incident-type', 'pipe_burst');
  await page.fill('#incident-pipe', spec.pipe);
  await page.click('#incident-run');
  await page.locator('#valves').waitFor({ state: 'attached' });
  await page.evaluate(() => window.cim.waitForTiles());
  await page.waitForTimeout(300);
  await shot('03-incident');
  const valves = await page.$$eval('#valves [data-valve]', (els) => els.map((e) => e.dataset.valve));
  const highlighted = await page.evaluate(() => Object.fromEntries(Object.entries(window.cim.layers.highlights).map(([k, m]) => [k, [...m.keys()]])));
  await page.fill('#incident-pipe', '');
  return { valves, highlighted, panel: await panelText() };
}

async function upload() {
  if (spec.login) {
    await logIn(page, spec.login);
  }
  await page.setInputFiles('#review-file', spec.ifc);
  // the project from the list the API gives a logged-in user
  await page.locator(`#review-project option[value="${spec.project}"]`).waitFor({ state: 'attached' });
  await page.selectOption('#review-project', spec.project);
  const seen = [];
  const watcher = setInterval(async () => {
    seen.push(await page.locator('#review-progress').getAttribute('value').catch(() => null));
  }, 100);
  await page.click('#review-form button[type=submit]');
  await page.waitForTimeout(200);
  await shot('04-upload-progress');
  await page.waitForFunction(() => window.cim.events.reviewed > 0);
  const report = await page.evaluate(() => window.cim.lastReview);
  clearInterval(watcher);
  await page.evaluate(() => window.cim.waitForTiles());
  await page.waitForTimeout(300);
  await shot('05-review-report');
  return {
    progress_values: [...new Set(seen.filter((v) => v !== null).map(Number))],
    label: await page.locator('#review-label').innerText(),
    issue_count: await page.locator('#issue-count').innerText().catch(() => null),
    report_ok: report !== null,
    review_id: report?.id ?? null,
    // what the viewer marked red: in the version's tileset, or as solids from the API's footprints
    marked: await page.evaluate(() => window.cim.review.marked),
    camera_near_marks: await page.evaluate(() => {
      const { viewer, review } = window.cim;
      if (!review.entities.length) return null;
      const target = review.entities[0].polygon.hierarchy.getValue().positions[0];
      return Cesium.Cartesian3.distance(viewer.camera.positionWC, target);
    }),
    panel: await panelText(),
  };
}

async function broken() {
  await page.goto(spec.url, { waitUntil: 'load' });
  await page.locator('#banner .msg.error').first().waitFor({ state: 'visible' });
  // a slow notice goes once the answer comes: look in the page's log of messages shown
  const slowText = spec.slow
    ? await page
        .waitForFunction(
          (parts) => window.cim?.messages?.find((m) => m.kind === 'warn' && parts.some((p) => m.text.includes(p)))?.text,
          spec.slow,
          { polling: 250 },
        )
        .then((h) => h.jsonValue())
    : null;
  const slowShown = spec.slow ? Boolean(slowText) : null;
  await page.waitForFunction(() => window.cim && window.cim.ready === true);
  // a page error (an exception nobody catches) shows in the banner too
  await page.evaluate(() => setTimeout(() => { throw new Error('thrown on purpose by the test'); }));
  await page.locator('#banner', { hasText: 'thrown on purpose by the test' }).waitFor({ state: 'visible' });
  const tiles = await page.evaluate(() => window.cim.allLoaded.then(() => true));
  const below = await underground();
  await shot('06-broken');
  return {
    banner: await bannerText(),
    errors: await page.$$eval('#banner .msg.error', (els) => els.map((e) => e.innerText)),
    slow_shown: slowShown,
    messages: await page.evaluate(() => window.cim.messages),
    slow_text: slowText,
    canvas: await page.locator('#globe canvas').count(),
    globe_shown: await page.evaluate(() => window.cim.viewer.scene.globe.show),
    tiles_loaded: tiles,
    tilesets: below.tilesets,
  };
}

/** Once every one of the pipes `ids` is loaded in the pipelines tileset and drawn as `shown`
 * says (the style is applied in the frames after a tile loads or the style changes; before, a
 * feature is shown in white): the loaded pipes of `utility` as {id, show, color}. */
function utilityFeatures(utility, ids, shown) {
  return page
    .waitForFunction(
      ([code, wanted, visible]) => {
        const out = [];
        const visit = (tile) => {
          const content = tile.contentReady ? tile.content : null;
          for (let i = 0; i < (content?.featuresLength ?? 0); i += 1) {
            const f = content.getFeature(i);
            if (f.getProperty('utility') === code) out.push({ id: f.getProperty('id'), show: f.show, color: f.color.toCssHexString() });
          }
          tile.children.forEach(visit);
        };
        visit(window.cim.layers.tilesets.pipelines.root);
        const styled = (f) => f.show === visible && (!visible || f.color !== '#ffffff');
        return wanted.every((id) => out.some((f) => f.id === id)) && out.every(styled) ? out : null;
      },
      [utility, ids, shown],
      { polling: 100 },
    )
    .then((handle) => handle.jsonValue());
}

/** A utility's checkbox in the panel, its pipes shown in its colour, hidden by the checkbox and back. */
async function utility() {
  const { code, ids } = spec.utility;
  await page.goto(spec.url, { waitUntil: 'load' });
  await page.waitForFunction(() => window.cim && window.cim.ready === true);
  const box = page.locator(`#layers-body input[data-code="${code}"]`);
  const label = await box.locator('xpath=..').innerText();
  const checked = await box.isChecked();
  await page.evaluate((id) => {
    window.cim.flown = false;
    window.cim.flyToFeature('pipelines', id, 60).then(() => { window.cim.flown = true; });
  }, ids[0]);
  await page.waitForFunction(() => window.cim.flown === true);
  await page.check('#underground');
  await page.waitForFunction(() => 'pipelines' in window.cim.layers.tilesets);
  await page.evaluate(() => window.cim.waitForTiles());
  const shown = await utilityFeatures(code, ids, true);
  await page.waitForTimeout(300);
  await shot('07-utility');
  await box.uncheck();
  const hidden = await utilityFeatures(code, ids, false);
  await box.check();
  return {
    label,
    checked,
    shown,
    hidden,
    legend: await page.locator('#legend ul[data-legend="utilities"]').innerText(),
    banner: await bannerText(),
  };
}

/** Just the page and every tile of its first view; then when the search's modules were asked for. */
async function open() {
  await page.goto(spec.url, { waitUntil: 'load' });
  await page.waitForFunction(() => window.cim && window.cim.ready === true);
  await page.evaluate(() => window.cim.allLoaded);
  const modules = () => performance.getEntriesByType('resource').filter((e) => /\/js\/(search|profile)\.js$/.test(e.name));
  await page.waitForFunction(`(${modules})().length === 2`);
  return page.evaluate(`({ first_all_loaded_ms: window.cim.metrics.firstAllLoadedMs, search_modules_ms: (${modules})().map((e) => e.startTime) })`);
}

/** For each of spec.searches ({q, kind, id}): type q, pick the suggestion of kind/id, wait for the
 *  flight and the card; report the suggestions, the camera, the card and every tab's text. */
async function search() {
  const answers = [];
  for (const [n, target] of spec.searches.entries()) {
    const before = await page.evaluate(() => window.cim.events.picked);
    await page.fill('#search-input', '');
    await page.locator('#search-input').pressSequentially(target.q, { delay: 40 });
    const option = page.locator(`#search-list [role="option"][data-kind="${target.kind}"][data-id="${target.id}"]`);
    await option.waitFor({ state: 'visible' });
    const suggestions = await page.$$eval('#search-list [role="option"]', (els) => els.map((e) => [e.dataset.kind, e.dataset.id]));
    await option.click();
    await page.waitForFunction((k) => window.cim.events.picked > k, before);
    await page.locator('#panel .profile-card').waitFor({ state: 'visible' });
    const tabs = page.locator('#panel [role="tab"]');
    const tabTexts = [];
    for (let i = 0; i < (await tabs.count()); i += 1) {
      await tabs.nth(i).click();
      tabTexts.push(await page.locator('#panel [role="tabpanel"]:not([hidden])').innerText());
    }
    await shot(`07-search-${n}-${target.kind}`);
    answers.push({
      ...target,
      suggestions,
      camera: await page.evaluate(() => {
        const c = Cesium.Cartographic.fromCartesian(window.cim.viewer.camera.positionWC);
        return [Cesium.Math.toDegrees(c.longitude), Cesium.Math.toDegrees(c.latitude), c.height];
      }),
      card: await page.$eval('#panel .profile-card', (card) => ({ kind: card.dataset.kind, id: card.dataset.id })),
      panel_text: await page.locator('#panel').innerText(),
      tab_texts: tabTexts,
      attributes: await page.$$eval('#panel *', (els) => els.flatMap((e) => [...e.attributes].map((a) => `${a.name}=${a.value}`))),
    });
  }
  return answers;
}

const STEPS = { load, building, incident, upload, broken, utility, open, search };
try {
  for (const name of spec.steps) {
    try {
      result.steps[name] = await STEPS[name]();
    } catch (exc) {
      result.steps[name] = { error: String(exc), banner: await bannerText().catch(() => null) };
      await shot(`${name}-failed`).catch(() => null);
    }
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(result));
