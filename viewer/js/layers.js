// The layers: 3D Tiles tilesets, draped collections, per-utility filters, legends, thematic colours
// and highlights (both through one 3D Tiles style per tileset, keyed on the feature's `id`).
import * as api from './api.js';
import { Drapes } from './drape.js';
import { t, language, apply as applyLabels } from './i18n.js';
import { message, escape } from './ui.js';

const { Cesium } = window;

export const TILESETS = ['buildings', 'bim', 'pipelines', 'nodes', 'tunnels'];
// Below the ground, out of sight from the initial view: loaded when first shown (the layer's
// checkbox, underground mode, or an analysis that marks their features).
export const UNDERGROUND = ['pipelines', 'nodes', 'tunnels'];
export const DRAPED = ['projects', 'parcels', 'roads'];
export const UTILITIES = ['water', 'drain', 'sewer', 'gas', 'heat', 'power', 'telecom'];
// Which layer and API theme each thematic choice colours.
export const THEMES = {
  credit: { layer: 'buildings', theme: 'contractor_grade' },
  safety: { layer: 'buildings', theme: 'safety_grade' },
  stage: { layer: 'buildings', theme: 'project_stage' },
};

/** A label that may be given per language ({zh, en}) in the current language. */
const localised = (label) => (label && typeof label === 'object' ? label[language()] ?? label.zh : label);

/** A legend as [{value, label, color}]: styles/legends.json gives {title, entries: [...]}, the
 * thematic endpoint {value: {label, color}}. */
export function legendItems(legend) {
  if (!legend) return [];
  const items = legend.entries ?? Object.entries(legend).map(([value, v]) => ({ value, ...v }));
  return items.map((i) => ({ value: i.value, label: localised(i.label) ?? i.value, color: i.color }));
}

export class Layers {
  constructor(viewer) {
    this.viewer = viewer;
    this.tilesets = {}; // layer -> Cesium3DTileset
    this.loading = {}; // layer -> Promise of its tileset (null when it failed)
    this.shown = new Set(TILESETS.filter((l) => !UNDERGROUND.includes(l))); // tileset layers shown
    this.onTileset = null; // (layer, tileset) once a tileset is added
    this.onVisibility = null; // (layer, visible) when a layer is shown or hidden
    this.drapes = new Drapes(viewer);
    this.baseStyles = {}; // layer -> Cesium3DTileStyle from styles/<layer>.json
    this.highlights = {}; // layer -> Map(id -> Color)
    this.themeColours = null; // {layer, colours: Map(id -> Color)}
    this.utilities = new Set(UTILITIES);
    this.legends = {};
    this.legendsLoaded = null; // a Promise once loadAll has started
  }

  /** Load the layers shown at first; a layer that fails says so in the banner and the rest still load. */
  async loadAll() {
    this.legendsLoaded = api.legends().then(
      (legends) => {
        this.legends = legends;
      },
      (exc) => message(`${t('legend')}: ${exc.message}`, 'warn', 'legends'),
    );
    const tilesets = [...this.shown].map((layer) => this.loadTileset(layer));
    await Promise.all([...tilesets, this.drapes.load(DRAPED), this.legendsLoaded]);
  }

  /** The layer's tileset, added once; null when it failed. */
  loadTileset(layer) {
    this.loading[layer] ??= this.addTileset(layer);
    return this.loading[layer];
  }

  /** `optional`: a missing tileset (404) is no error (the BIM layer before any model is published). */
  async addTileset(layer, url = api.tilesetUrl(layer), { optional = layer === 'bim' } = {}) {
    const baseStyle = api.style(layer.startsWith('bim') ? 'bim' : layer) // on its way with the tileset
      .then((json) => new Cesium.Cesium3DTileStyle(json))
      .catch(() => null);
    let tileset;
    try {
      // no dynamic environment map: it renders the sky into cube maps per tileset, reads them back
      // and recompiles the tiles' shaders once done, for a sky this page does not show
      tileset = await Cesium.Cesium3DTileset.fromUrl(url, { maximumScreenSpaceError: 16, environmentMapOptions: { enabled: false } });
    } catch (exc) {
      if (optional && String(exc).includes('404')) return null;
      message(`${t(layer)}: ${t('error')} — ${exc.message ?? exc}`, 'error', `tileset-${layer}`);
      return null;
    }
    tileset.layerName = layer;
    tileset.tileFailed.addEventListener((e) => message(`${t(layer)}: ${e.url} — ${e.message}`, 'error', `tile-${layer}`));
    this.baseStyles[layer] = await baseStyle;
    this.tilesets[layer] = tileset;
    tileset.show = !TILESETS.includes(layer) || this.shown.has(layer);
    this.viewer.scene.primitives.add(tileset);
    this.restyle(layer);
    this.onTileset?.(layer, tileset);
    return tileset;
  }

  /** One style per tileset: highlight, else thematic colour, else the layer's own style. */
  restyle(layer) {
    const tileset = this.tilesets[layer];
    if (!tileset) return;
    const base = this.baseStyles[layer];
    const highlights = this.highlights[layer];
    const theme = this.themeColours?.layer === layer ? this.themeColours.colours : null;
    const utilities = this.utilities;
    const isPipes = layer === 'pipelines' || layer === 'nodes';
    const style = new Cesium.Cesium3DTileStyle();
    style.color = {
      evaluateColor(feature, result) {
        const id = feature.getProperty('id');
        const colour = highlights?.get(id) ?? theme?.get(id);
        if (colour) return Cesium.Color.clone(colour, result);
        if (base?.color) return base.color.evaluateColor(feature, result);
        return Cesium.Color.clone(Cesium.Color.WHITE, result);
      },
    };
    style.show = {
      evaluate(feature) {
        if (isPipes) {
          const utility = feature.getProperty('utility');
          if (utility && !utilities.has(utility)) return false;
        }
        return base?.show ? base.show.evaluate(feature) : true;
      },
    };
    tileset.style = style;
  }

  restyleAll() {
    for (const layer of Object.keys(this.tilesets)) this.restyle(layer);
  }

  /** Show or hide a layer; a tileset not loaded yet loads now. Resolves once it is added. */
  async setVisible(layer, visible) {
    this.onVisibility?.(layer, visible);
    if (DRAPED.includes(layer)) this.drapes.setShown(layer, visible);
    if (!TILESETS.includes(layer)) return;
    if (visible) this.shown.add(layer);
    else this.shown.delete(layer);
    const tileset = this.tilesets[layer] ?? (visible ? await this.loadTileset(layer) : null);
    if (tileset) tileset.show = this.shown.has(layer);
  }

  isShown(layer) {
    return TILESETS.includes(layer) ? this.shown.has(layer) : this.drapes.isShown(layer);
  }

  setUtility(utility, visible) {
    if (visible) this.utilities.add(utility);
    else this.utilities.delete(utility);
    this.restyle('pipelines');
    this.restyle('nodes');
  }

  /** Colour features by ids: {layer: {id: cssColour}}; replaces earlier highlights. A hidden
   * layer with features to colour is shown. Resolves once those layers are added. */
  async highlight(byLayer) {
    this.highlights = {};
    for (const [layer, colours] of Object.entries(byLayer)) this.highlightLayer(layer, colours);
    this.restyleAll();
    const hidden = Object.keys(byLayer).filter((l) => Object.keys(byLayer[l]).length && TILESETS.includes(l) && !this.shown.has(l));
    await Promise.all(hidden.map((l) => this.setVisible(l, true)));
  }

  /** Colour one layer's features by ids ({id: cssColour}), keeping the other layers' highlights. */
  highlightLayer(layer, colours) {
    this.highlights[layer] = new Map(Object.entries(colours).map(([id, c]) => [id, Cesium.Color.fromCssColorString(c)]));
    this.restyle(layer);
  }

  clearHighlights() {
    this.highlight({});
  }

  /** Colour a layer from the thematic endpoint; returns the legend shown. */
  async setTheme(choice) {
    const previous = this.themeColours?.layer;
    this.themeColours = null;
    if (previous) this.restyle(previous);
    if (!THEMES[choice]) return null;
    const { layer, theme } = THEMES[choice];
    const answer = await api.thematic(layer, theme);
    const legend = legendItems(answer.legend);
    const unknown = answer.unknown ? [{ value: null, label: localised(answer.unknown.label), color: answer.unknown.color }] : [];
    const byValue = new Map([...legend, ...unknown].map((i) => [i.value, Cesium.Color.fromCssColorString(i.color)]));
    const colours = new Map();
    for (const [id, value] of Object.entries(answer.values)) {
      const colour = byValue.get(value);
      if (colour) colours.set(id, colour);
    }
    this.themeColours = { layer, colours };
    this.restyle(layer);
    return { title: t(`theme_${choice}`), items: [...legend, ...unknown] };
  }

  /** The thematic legend (if any) and the legends of styles/legends.json, as HTML. */
  legendHtml(themeLegend = null) {
    const swatches = (items) =>
      items.map((i) => `<li><span class="swatch" style="background:${escape(i.color)}"></span>${escape(i.label)}</li>`).join('');
    const blocks = themeLegend ? [`<h4>${escape(themeLegend.title)}</h4><ul id="theme-legend">${swatches(themeLegend.items)}</ul>`] : [];
    for (const [key, legend] of Object.entries(this.legends)) {
      if (['safety_grade', 'building_use'].includes(key)) continue; // shown through the theme choice
      blocks.push(`<h4>${escape(localised(legend.title) ?? key)}</h4><ul>${swatches(legendItems(legend))}</ul>`);
    }
    return blocks.join('');
  }
}

/** Build the layers panel (checkboxes, utility filters, theme choice, legend). */
export function buildPanel(layers, root) {
  const row = (key, checked = layers.isShown(key), cls = '') =>
    `<label class="${cls}"><input type="checkbox" data-layer="${key}" ${checked ? 'checked' : ''}><span data-i18n="${key}"></span></label>`;
  root.innerHTML = [
    row('buildings'), row('bim'), row('pipelines'),
    ...UTILITIES.map((u) => row(u, true, 'sub').replace('data-layer', 'data-utility')),
    row('nodes'), row('tunnels'), row('projects'), row('parcels'), row('roads'),
    `<label>`,
    `<span data-i18n="theme"></span> <select id="theme"><option value="" data-i18n="theme_none"></option>`,
    `<option value="credit" data-i18n="theme_credit"></option><option value="safety" data-i18n="theme_safety"></option>`,
    `<option value="stage" data-i18n="theme_stage"></option></select></label>`,
    `<h3 data-i18n="legend"></h3><div id="legend"></div>`,
  ].join('');
  layers.onVisibility = (layer, visible) => {
    const box = root.querySelector(`input[data-layer="${layer}"]`);
    if (box) box.checked = visible;
  };
  const legend = root.querySelector('#legend');
  legend.innerHTML = layers.legendHtml();
  layers.legendsLoaded?.then(() => {
    legend.innerHTML = layers.legendHtml(layers.themeLegend);
  });
  root.addEventListener('change', async (e) => {
    const el = e.target;
    if (el.dataset.layer) layers.setVisible(el.dataset.layer, el.checked);
    if (el.dataset.utility) layers.setUtility(el.dataset.utility, el.checked);
    if (el.id === 'theme') {
      layers.themeLegend = await layers.setTheme(el.value).catch(() => null);
      legend.innerHTML = layers.legendHtml(layers.themeLegend);
    }
  });
  applyLabels(root);
}
