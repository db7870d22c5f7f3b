// Drive the viewer's review panel in Debian's headless Chromium and report what happened as one JSON
// object. Usage: node tests/e2e/review_ui.mjs '<json spec>'
// spec: {url, artifacts, ifc, project, crs, origin, planner: [user, password], reviewer: [user, password],
//        isolate: GlobalId to click, note, opinion}
import { join } from 'node:path';
import { logIn, openPage, runSteps } from './browser.mjs';

const spec = JSON.parse(process.argv[2]);
const result = { steps: {} };
const { browser, page } = await openPage(spec, result);
const shot = (name) => page.screenshot({ path: join(spec.artifacts, `review-ui-${name}.png`) });
const label = () => page.locator('#review-label').innerText();
const submit = async () => {
  await page.click('#review-form button[type=submit]');
  return label();
};

async function login([username, password]) {
  if (await page.evaluate(() => Boolean(sessionStorage.getItem("cim.token")))) await page.click("#login-button"); // log out first
  await logIn(page, [username, password]);
}

/** The review panel as the page shows it: groups, issues, buttons. */
const panelState = () =>
  page.evaluate(() => {
    const root = document.getElementById('review-report');
    const count = (el) => Number(el.querySelector(':scope > summary .count').textContent.replace(/\D/g, ''));
    return {
      review_id: Number(root.dataset.review),
      state: document.getElementById('review-state').textContent,
      groups: [...root.querySelectorAll('details.severity-group')].map((g) => ({
        severity: g.dataset.severity,
        label: g.querySelector(':scope > summary').textContent,
        swatch: getComputedStyle(g.querySelector('.swatch')).backgroundColor,
        count: count(g),
        rules: [...g.querySelectorAll('details.rule-group')].map((r) => ({
          rule: r.dataset.rule,
          label: r.querySelector(':scope > summary').textContent,
          count: count(r),
          issues: [...r.querySelectorAll('li.issue')].map((li) => ({
            id: Number(li.dataset.issue),
            global_id: li.dataset.globalId,
            border: getComputedStyle(li).borderLeftColor,
            message: li.querySelector('.issue-message').textContent,
          })),
        })),
      })),
      buttons: {
        resolve: root.querySelectorAll('.issue-resolve').length,
        comment: root.querySelectorAll('.issue-comment').length,
        approve: root.querySelectorAll('#review-approve').length,
        return: root.querySelectorAll('#review-return').length,
      },
    };
  });

async function load() {
  await page.goto(spec.url, { waitUntil: 'load' });
  await page.waitForFunction(() => window.cim && window.cim.ready === true);
  await page.evaluate(() => window.cim.allLoaded);
  return {};
}

/** The form refuses what it cannot send, with a message, and sends nothing. */
async function checks() {
  const posted = [];
  page.on('request', (r) => r.method() === 'POST' && r.url().includes('/api/v1/reviews') && posted.push(r.url()));
  const answers = { anonymous: await submit() };
  await login(spec.planner);
  await page.locator(`#review-project option[value="${spec.project}"]`).waitFor({ state: 'attached' });
  answers.no_file = await submit();
  await page.setInputFiles('#review-file', spec.ifc);
  answers.no_project = await submit();
  await page.selectOption('#review-project', spec.project);
  await page.fill('#review-crs', spec.crs);
  answers.crs_without_origin = await submit();
  answers.banner = await page.locator('#banner').innerText();
  answers.posted = posted.length;
  return answers;
}

/** Upload as the planner with CRS and origin; the report's groups; a click on an issue. */
async function upload() {
  await page.fill('#review-origin', spec.origin);
  const reviewed = await page.evaluate(() => window.cim.events.reviewed); // the refused tries count too
  await page.click('#review-form button[type=submit]');
  await page.waitForFunction((n) => window.cim.events.reviewed > n, reviewed);
  await page.evaluate(() => window.cim.review.flown);
  const report = await page.evaluate(() => window.cim.lastReview);
  if (!report) throw new Error(`no report: ${await page.locator('#banner').innerText()}`);
  const before = await panelState();
  // the links: the report as HTML in a new tab, the BCF file saved
  const files = {};
  for (const [id, name] of [['#review-html', 'report.html'], ['#review-bcf', 'report.bcf']]) {
    const [response] = await Promise.all([page.waitForResponse((r) => r.url().endsWith(`/${name}`)), page.click(id)]);
    files[name] = { status: response.status(), type: response.headers()['content-type'], bytes: Number(response.headers()['content-length']) };
  }
  const marked = await page.evaluate(() => window.cim.review.entities.map((e) => e.name));
  await page.click(`li.issue[data-global-id="${spec.isolate}"]`);
  await page.waitForFunction((id) => window.cim.review.isolated === id, spec.isolate);
  await page.evaluate(() => window.cim.review.flown);
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
  const isolated = await page.evaluate((id) => {
    const { viewer, review } = window.cim;
    const entity = review.entities.find((e) => e.name === id);
    // the solid's centre: its outline (drawn on the ellipsoid) raised half way up the extrusion
    const now = Cesium.JulianDate.now();
    const mid = (entity.polygon.height.getValue(now) + entity.polygon.extrudedHeight.getValue(now)) / 2;
    const ground = Cesium.BoundingSphere.fromPoints(entity.polygon.hierarchy.getValue().positions).center;
    const c = Cesium.Cartographic.fromCartesian(ground);
    const centre = Cesium.Cartesian3.fromRadians(c.longitude, c.latitude, mid);
    const onScreen = Cesium.SceneTransforms.worldToWindowCoordinates(viewer.scene, centre);
    const canvas = viewer.scene.canvas;
    return {
      shown: review.entities.filter((e) => e.show).map((e) => e.name),
      colour: entity.polygon.material.color.getValue().withAlpha(1).toCssHexString(),
      camera_distance_m: Cesium.Cartesian3.distance(viewer.camera.positionWC, centre),
      // where the element's centre is drawn, as a share of the canvas from its centre
      off_centre: onScreen && [(onScreen.x - canvas.clientWidth / 2) / canvas.clientWidth, (onScreen.y - canvas.clientHeight / 2) / canvas.clientHeight],
      selected: document.querySelector('li.issue.selected')?.dataset.globalId,
    };
  }, spec.isolate);
  await shot('isolated');
  return { review_id: report?.id, georef_method: report?.report?.georef?.method, panel: before, files, marked, isolated };
}

/** The reviewer sees the buttons the planner did not; resolve an issue, return the review. */
async function reviewer() {
  const reviewId = await page.evaluate(() => window.cim.lastReview.id);
  await login(spec.reviewer);
  await page.evaluate((id) => window.cim.review.open(id), reviewId);
  const before = await panelState();
  const item = page.locator(`li.issue[data-global-id="${spec.isolate}"]`);
  await item.locator('.issue-note').fill(spec.note);
  await item.locator('.issue-resolve').click();
  await page.locator(`li.issue.resolved[data-global-id="${spec.isolate}"]`).waitFor({ state: 'attached' });
  const resolved = await panelState();
  await page.fill('#review-opinion', spec.opinion);
  await page.click('#review-return');
  await page.waitForFunction((state) => document.getElementById('review-state')?.textContent !== state, resolved.state);
  await shot('returned');
  return { before, resolved, after: await panelState() };
}

await runSteps(browser, { load, checks, upload, reviewer }, ['load', 'checks', 'upload', 'reviewer'], result, (name) => shot(`${name}-failed`));
