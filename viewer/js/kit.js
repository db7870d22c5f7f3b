// The UI kit's host: loads the Vue 3 + Element Plus bundle (viewer/ui, built by `make ui`) once,
// after the first full view or at its first use, and hands it the viewer's api, words, layers and
// the BIM actions of the model tree. Without the bundle the panels keep their plain rendering.
import * as api from './api.js';
import * as i18n from './i18n.js';
import { fieldLabel, formatValue, loadCardLabels, message } from './ui.js';

const { Cesium } = window;
const BUNDLE = new URL('../ui/dist/panels.js', import.meta.url).href;
const STYLES = new URL('../ui/dist/panels.css', import.meta.url).href;
const EXPORT_POLL_MS = 300;

/** The tilesets that draw BIM elements: the published models' layer and any version under review. */
const bimTilesets = (layers) => Object.keys(layers.tilesets).filter((name) => name === 'bim_elements' || name.startsWith('bim-'));

/** Ask the server for an XLSX of a layer (its export job, with Chinese headers), wait for it and
 * download it; resolves to what happened, for the table to say. */
async function exportXlsx(layer, filters) {
  let job = await api.request('exports', { method: 'POST', json: { query: { source: 'collection', collection: layer, filters }, format: 'xlsx', headers: 'zh' } });
  while (!['succeeded', 'failed', 'pending_approval'].includes(job.status)) {
    await new Promise((resolve) => setTimeout(resolve, EXPORT_POLL_MS));
    job = await api.request(`exports/${job.id}`);
  }
  if (job.status !== 'succeeded') return job.error ?? i18n.t('export_waiting');
  const response = await api.request(job.file.replace(/^\/api\/v1\//, ''), { raw: true });
  const url = URL.createObjectURL(await response.blob());
  const a = Object.assign(document.createElement('a'), { href: url, download: `${layer}.xlsx` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return `${job.rows}`;
}

/** The model tree's actions on the BIM tilesets (by element GlobalId, through the layers' style). */
function bimActions(layers, picker) {
  const each = (fn) => bimTilesets(layers).forEach(fn);
  return {
    isolate: (ids) => each((name) => layers.showIds(name, ids)),
    hide: (ids) => each((name) => layers.showIds(name, ids, { hide: true })),
    colour: (ids, css) => each((name) => layers.highlightLayer(name, Object.fromEntries(ids.map((id) => [id, css])))),
    reset: () =>
      each((name) => {
        layers.showIds(name, null);
        layers.highlightLayer(name, {});
      }),
    select: (modelId, id) => picker.showFeature('bim_elements', id),
  };
}

let kit = null;
/** The kit, loaded once (its style sheet with it). */
export function loadKit(layers, picker) {
  kit ??= (async () => {
    const link = Object.assign(document.createElement('link'), { rel: 'stylesheet', href: STYLES });
    const styled = new Promise((resolve) => {
      link.onload = resolve;
      link.onerror = resolve;
    });
    document.head.append(link);
    const [module] = await Promise.all([import(BUNDLE), styled, layers.ready, loadCardLabels()]);
    const words = { t: i18n.t, fieldLabel, formatValue, valueLabel: i18n.valueLabel, codeLabel: i18n.codeLabel, language: i18n.language };
    return module.mountKit({ api, words, layers, exportXlsx, bim: bimActions(layers, picker), Cesium });
  })();
  kit.catch((exc) => message(`${i18n.t('error')}: ${exc.message ?? exc}`, 'warn', 'kit'));
  return kit;
}

/** Fill the attribute-table chooser with the registry's layers and open the chosen one's table. */
export async function wireTables(layers, picker, select, button) {
  await layers.ready;
  const fill = () => {
    select.innerHTML = (layers.registry?.layers ?? []).map((l) => `<option value="${l.name}">${i18n.t(l.name)}</option>`).join('');
  };
  fill();
  button.onclick = async () => (await loadKit(layers, picker)).openTable(select.value);
  return fill;
}
