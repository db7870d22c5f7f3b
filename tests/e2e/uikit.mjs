// Drive the viewer's UI kit (Vue 3 + Element Plus panels) in Debian's headless Chromium: record
// cards of several kinds, the attribute table (sort, filter, CSV and XLSX export), the BIM model
// tree (isolate a storey). Reports what the page shows as one JSON object.
// Usage: node tests/e2e/uikit.mjs '<json spec>'   spec: {url, artifacts, steps, login, cards, table, tree}
import { join } from 'node:path';
import { logIn, openPage, runSteps } from './browser.mjs';

const spec = JSON.parse(process.argv[2]);
const result = { steps: {} };
const { browser, page } = await openPage(spec, result);
const shot = (name) => page.screenshot({ path: join(spec.artifacts, `uikit-${name}.png`) });

async function openViewer({ reload = false } = {}) {
  await page.goto(spec.url, { waitUntil: 'load' });
  await page.waitForFunction(() => window.cim && window.cim.ready === true);
  await page.evaluate(() => window.cim.allLoaded);
  if (spec.login && !(await page.evaluate(() => sessionStorage.getItem('cim.token')))) {
    await logIn(page, spec.login);
  }
  // what the banner said (a BIM tileset refused before the login) is kept, the banner cleared
  result.banner = await page.evaluate(() => window.cim.messages.map((m) => m.text));
  await page.evaluate(() => document.getElementById('banner').replaceChildren());
  // the tilesets that are not public (BIM models) load with the session's token on the next load
  if (reload) await openViewer();
}

/** The kit's bundle arrives after the first full view without being asked. */
async function loaded() {
  await openViewer();
  await page.waitForFunction(() => [...document.styleSheets].some((s) => s.href?.endsWith('/ui/dist/panels.css')));
  return page.evaluate(async () => {
    const kit = await window.cim.kit();
    return { kit: Object.keys(kit).sort(), first_full_view_ms: window.cim.metrics.firstAllLoadedMs };
  });
}

/** For each of spec.cards ({layer, id} or {profile, id}): the card's tabs and the text of each. */
async function cards() {
  await openViewer();
  const answers = [];
  for (const card of spec.cards) {
    await page.evaluate(async ({ layer, profile, id }) => {
      const { cim } = window;
      if (layer) return cim.picker.showFeature(layer, id);
      const answer = await (await fetch(`/api/v1/profiles/${profile}/${id}`, { headers: { Authorization: `Bearer ${sessionStorage.getItem('cim.token') ?? ''}` } })).json();
      return cim.picker.show(id, answer);
    }, card);
    await page.locator('#panel .cim-card').waitFor({ state: 'visible' });
    const tabs = page.locator('#panel .el-tabs__item');
    const labels = await tabs.allInnerTexts();
    const texts = [await page.locator('#panel').innerText()];
    for (let i = 0; i < labels.length; i += 1) {
      await tabs.nth(i).click();
      await page.locator(`#panel .el-tab-pane:nth-child(${i + 1})`).waitFor({ state: 'visible' });
      texts.push(await page.locator(`#panel .el-tab-pane:nth-child(${i + 1})`).innerText());
    }
    await shot(`card-${card.layer ?? card.profile}`);
    answers.push({ ...card, labels, texts });
  }
  return answers;
}

/** The rows the table shows now: the cells' text of its id column and of the sorted column. */
const tableRows = () => page.$$eval('.cim-table-dialog .el-table__body tr', (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.innerText.trim())));

/** Open the attribute table of spec.table.layer; sort by spec.table.sort descending; filter
 * spec.table.filter = value; export CSV and XLSX (the files saved under artifacts). */
async function table() {
  await openViewer();
  const { layer, sort, filter } = spec.table;
  await page.click('#tables > summary');
  await page.selectOption('#table-layer', layer);
  await page.click('#table-open');
  const dialog = page.locator('.cim-table-dialog');
  await dialog.locator('.el-table__body tr').first().waitFor({ state: 'visible' });
  const headers = await dialog.locator('.el-table__header th').allInnerTexts();
  const answer = { headers, total: await dialog.locator('.total').innerText() };
  const column = headers.findIndex((h) => h.trim() === sort.label);
  const th = dialog.locator('.el-table__header th').nth(column);
  // the rows' text now; after an action, wait until the table is idle again with other rows
  const signature = () => page.evaluate(() => [...document.querySelectorAll('.cim-table-dialog .el-table__body tr')].map((r) => r.innerText).join('|'));
  const settled = (before) => page.waitForFunction(([b]) => {
    const table = document.querySelector('.cim-table-dialog .cim-table');
    const rows = [...document.querySelectorAll('.cim-table-dialog .el-table__body tr')];
    return table.dataset.busy === 'false' && rows.length && rows.map((r) => r.innerText).join('|') !== b;
  }, [before]);
  let before = await signature();
  await th.locator('.sort-caret.descending').click();
  await settled(before);
  answer.sorted = await tableRows();
  await dialog.locator('.filter-key').click();
  await page.locator('.el-select-dropdown__item:visible', { hasText: filter.label }).first().click();
  before = await signature();
  if (filter.option) {
    await dialog.locator('.filter-value').click();
    await page.locator('.el-select-dropdown__item:visible', { hasText: filter.option }).first().click();
  } else {
    await dialog.locator('.filter-value input').fill(String(filter.value));
    await dialog.locator('.filter-run').click();
  }
  await settled(before);
  answer.filtered = await tableRows();
  answer.filtered_total = await dialog.locator('.total').innerText();
  await shot('table');
  for (const [kind, button] of [['csv', '.export-csv'], ['xlsx', '.export-xlsx']]) {
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 120000 }), dialog.locator(button).click()]);
    const path = join(spec.artifacts, `uikit-table.${kind}`);
    await download.saveAs(path);
    answer[kind] = path;
  }
  return answer;
}

/** Open the model tree, pick spec.tree.model, click the storey labelled spec.tree.storey (its
 * ancestors opened by their expand icons) and the isolate button: which loaded BIM features the
 * tilesets' style shows then. */
async function tree() {
  await openViewer({ reload: true });
  await page.click('#model-tree > summary');
  const root = page.locator('#model-tree-body');
  await root.locator('.el-tree-node').first().waitFor({ state: 'visible' });
  await root.locator('.tree-model').click();
  await page.locator('.el-select-dropdown__item:visible', { hasText: spec.tree.model_label }).first().click();
  const storey = root.locator('.el-tree-node__label', { hasText: spec.tree.storey_label });
  for (let i = 0; i < 10 && !(await storey.isVisible()); i += 1) {
    await root.locator('.el-tree-node__expand-icon:not(.is-leaf):not(.expanded)').first().click();
    await page.waitForTimeout(100); // the tree animates the opening; the next icon is looked up after
  }
  await storey.click();
  await root.locator('.tree-isolate').click();
  await page.waitForFunction(() => window.cim.layers.onlyIds.bim_elements);
  await page.evaluate(() => window.cim.waitForTiles());
  const shown = await page.evaluate(() => {
    const out = { shown: [], hidden: [] };
    for (const [name, tileset] of Object.entries(window.cim.layers.tilesets)) {
      if (name !== 'bim_elements' && !name.startsWith('bim-')) continue;
      const visit = (tile) => {
        const content = tile.content;
        for (let i = 0; content && i < (content.featuresLength ?? 0); i += 1) {
          const f = content.getFeature(i);
          (tileset.style.show.evaluate(f) ? out.shown : out.hidden).push(String(f.getProperty('id')));
        }
        tile.children.forEach(visit);
      };
      visit(tileset.root);
    }
    return out;
  });
  await shot('tree');
  const labels = await root.locator('.el-tree-node__label').allInnerTexts();
  await root.locator('.tree-reset').click();
  const reset = await page.evaluate(() => !window.cim.layers.onlyIds.bim_elements);
  return { ...shown, labels, reset };
}

const STEPS = { loaded, cards, table, tree };
await runSteps(browser, STEPS, spec.steps, result, (name) => shot(`${name}-failed`));
