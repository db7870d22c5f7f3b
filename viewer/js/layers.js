// The layers, as the server's layer registry (GET /api/v1/layers) describes them: 3D Tiles tilesets,
// draped collections, per-value filters (one checkbox per utility), legends, thematic colours and
// highlights (both through one 3D Tiles style per tileset, keyed on the feature's `id`).
import * as api from './api.js';
import { Drapes } from './drape.js';
import { t, language, addLabels, apply as applyLabels } from './i18n.js';
import { message, escape } from './ui.js';

const { Cesium } = window;

/** A label given per language ({zh, en}) in the current language. */
const localised = (label) => (label && typeof label === 'object' ? label[language()] ?? label.zh : label);

/** The registry's words as i18n labels: layer names, property names (the first layer's label wins)
 * and vocabulary codes as `vocab.code`; and the vocabulary of each property that has one (null where
 * two layers give one name two vocabularies). */
function registryLabels(registry) {
  const labels = {};
  const vocabOf = {};
  for (const layer of registry.layers) {
    labels[layer.name] = layer.title;
    for (const p of [...layer.properties, ...(layer.tiles?.properties ?? [])]) {
      labels[p.name] ??= p.label;
      if (p.vocab) vocabOf[p.name] = p.name in vocabOf && vocabOf[p.name] !== p.vocab ? null : p.vocab; // ambiguous: none
    }
    for (const theme of layer.themes) labels[`theme.${layer.name}.${theme.name}`] = theme.title;
  }
  for (const [name, words] of Object.entries(registry.vocabularies)) {
    labels[`vocab.${name}`] = words.title;
    for (const e of words.entries) labels[`${name}.${e.code}`] = e.label;
  }
  return [labels, vocabOf];
}

/** A vocabulary's coloured entries (and its "other") as legend items [{value, label, color}]. */
function vocabItems(words, alpha = 1) {
  const items = words.entries.filter((e) => e.color).map((e) => ({ value: e.code, label: localised(e.label), color: e.color, alpha: e.alpha * alpha }));
  return words.other ? [...items, { value: null, label: localised(words.other.label), color: words.other.color, alpha }] : items;
}

/** A legend as [{value, label, color}] from the thematic endpoint's {value: {label, color}}. */
export function legendItems(legend) {
  return Object.entries(legend ?? {}).map(([value, v]) => ({ value, label: localised(v.label) ?? value, color: v.color }));
}

/** A layer's default colour for a feature, after its registry style (a colour, or a property's
 * value coloured after a vocabulary). */
function styleColour(style, vocabularies) {
  if (!style) return () => Cesium.Color.WHITE;
  if (style.color) {
    const colour = Cesium.Color.fromCssColorString(style.color).withAlpha(style.alpha);
    return () => colour;
  }
  const items = vocabItems(vocabularies[style.vocab], style.alpha);
  const byValue = new Map(items.map((i) => [i.value, Cesium.Color.fromCssColorString(i.color).withAlpha(i.alpha)]));
  const other = byValue.get(null) ?? Cesium.Color.GRAY.withAlpha(style.alpha);
  return (feature) => {
    let value = feature.getProperty(style.property);
    if (style.first_of_list && typeof value === 'string') value = value.split(',')[0];
    return byValue.get(value) ?? other;
  };
}

export class Layers {
  constructor(viewer) {
    this.viewer = viewer;
    this.registry = null; // the answer of GET /api/v1/layers
    this.byName = {}; // layer name -> its registry entry
    this.tilesets = {}; // layer -> Cesium3DTileset
    this.loading = {}; // layer -> Promise of its tileset (null when it failed)
    this.shown = new Set(); // tileset layers shown
    this.onTileset = null; // (layer, tileset) once a tileset is added
    this.onVisibility = null; // (layer, visible) when a layer is shown or hidden
    this.drapes = new Drapes(viewer);
    this.highlights = {}; // layer -> Map(id -> Color)
    this.themeColours = null; // {layer, colours: Map(id -> Color)}
    this.hiddenValues = {}; // vocabulary -> Set of codes whose features the filters hide
    this.onlyIds = {}; // layer -> Set of the only feature ids shown (isolated), absent: all
    this.hiddenIds = {}; // layer -> Set of feature ids hidden
    this.ready = api.layerRegistry().then(
      (registry) => this.configure(registry),
      (exc) => message(`${t('layers')}: ${exc.message}`, 'error', 'layers'),
    );
  }

  configure(registry) {
    this.registry = registry;
    this.byName = Object.fromEntries(registry.layers.map((l) => [l.name, l]));
    addLabels(...registryLabels(registry));
    for (const layer of this.tiled()) if (!layer.underground) this.shown.add(layer.name);
  }

  /** Registry layers with a tileset / draped on the ground (bottom first) / below the ground. */
  tiled() {
    return this.registry?.layers.filter((l) => l.tiles) ?? [];
  }

  draped() {
    return (this.registry?.layers.filter((l) => l.draped) ?? []).sort((a, b) => a.draped.order - b.draped.order);
  }

  underground() {
    return this.tiled().filter((l) => l.underground).map((l) => l.name);
  }

  isTileset(layer) {
    return Boolean(this.byName[layer]?.tiles);
  }

  /** The registry entry of a tileset: its own, or for `bim-<version>` the layer with version tiles. */
  entryOf(layer) {
    return this.byName[layer] ?? (layer.startsWith('bim-') ? this.byName.bim_elements : null);
  }

  /** Whether this session may read the layer: every layer once logged in, else the public ones. */
  readable(layer) {
    return Boolean(api.auth.token) || Boolean(this.entryOf(layer)?.public);
  }

  /** Load the shown layers this session may read and has not loaded yet (again after a login); a
   * layer that fails says so in the banner and the rest still load. */
  async loadAll() {
    await this.ready;
    this.onReadable?.();
    const tilesets = [...this.shown].filter((layer) => this.readable(layer)).map((layer) => this.loadTileset(layer));
    const draped = this.draped();
    this.drapes.styles = Object.fromEntries(draped.map((l) => [l.name, l.draped]));
    const fresh = draped.map((l) => l.name).filter((c) => this.readable(c) && !(c in this.drapes.counts));
    await Promise.all([...tilesets, fresh.length ? this.drapes.load(fresh) : null]);
  }

  /** The layer's tileset, added once; null when it failed or is not readable before a login. */
  loadTileset(layer) {
    if (!this.readable(layer)) return Promise.resolve(null);
    this.loading[layer] ??= this.addTileset(layer);
    return this.loading[layer];
  }

  /** `optional`: a missing tileset (404) is no error (a BIM layer before any model is published). */
  async addTileset(layer, url = api.tilesetUrl(layer), { optional = this.byName[layer]?.tiles?.optional ?? false } = {}) {
    let tileset;
    try {
      // no dynamic environment map: it renders the sky into cube maps per tileset, reads them back
      // and recompiles the tiles' shaders once done, for a sky this page does not show
      // tiles of layers that are not public (BIM models) are read with the session's token
      const resource = new Cesium.Resource({ url, headers: api.auth.token ? { Authorization: `Bearer ${api.auth.token}` } : {} });
      tileset = await Cesium.Cesium3DTileset.fromUrl(resource, { maximumScreenSpaceError: 16, environmentMapOptions: { enabled: false } });
    } catch (exc) {
      if (optional && String(exc).includes('404')) return null;
      message(`${t(layer)}: ${t('error')} — ${exc.message ?? exc}`, 'error', `tileset-${layer}`);
      return null;
    }
    tileset.layerName = layer;
    tileset.tileFailed.addEventListener((e) => message(`${t(layer)}: ${e.url} — ${e.message}`, 'error', `tile-${layer}`));
    this.tilesets[layer] = tileset;
    tileset.show = !this.isTileset(layer) || this.shown.has(layer);
    this.viewer.scene.primitives.add(tileset);
    this.restyle(layer);
    this.onTileset?.(layer, tileset);
    return tileset;
  }

  /** One style per tileset: highlight, else thematic colour, else the layer's own style; features
   * whose value a filter hides are not shown. */
  restyle(layer) {
    const tileset = this.tilesets[layer];
    if (!tileset) return;
    const entry = this.entryOf(layer);
    const base = styleColour(entry?.style, this.registry?.vocabularies ?? {});
    const highlights = this.highlights[layer];
    const theme = this.themeColours?.layer === layer ? this.themeColours.colours : null;
    const filter = entry?.style?.filter ? entry.style : null;
    const hidden = filter ? this.hiddenValues[filter.vocab] ?? new Set() : null;
    const only = this.onlyIds[layer];
    const hiddenIds = this.hiddenIds[layer];
    const style = new Cesium.Cesium3DTileStyle();
    style.color = {
      evaluateColor(feature, result) {
        const id = feature.getProperty('id');
        return Cesium.Color.clone(highlights?.get(id) ?? theme?.get(id) ?? base(feature), result);
      },
    };
    style.show = {
      evaluate(feature) {
        const id = only || hiddenIds ? feature.getProperty('id') : null;
        if (only && !only.has(id)) return false;
        if (hiddenIds?.has(id)) return false;
        return !hidden?.size || !hidden.has(feature.getProperty(filter.property));
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
    if (this.byName[layer]?.draped) this.drapes.setShown(layer, visible);
    if (!this.isTileset(layer)) return;
    if (visible) this.shown.add(layer);
    else this.shown.delete(layer);
    if (visible && !this.readable(layer)) message(`${t(layer)}: ${t('log_in_to_see')}`, 'info', `locked-${layer}`);
    const tileset = this.tilesets[layer] ?? (visible ? await this.loadTileset(layer) : null);
    if (tileset) tileset.show = this.shown.has(layer);
  }

  isShown(layer) {
    return this.isTileset(layer) ? this.shown.has(layer) : this.drapes.isShown(layer);
  }

  /** Show or hide the features of one code of a filtering vocabulary (a utility) in every layer
   * styled after it. */
  setValueShown(vocab, code, visible) {
    const hidden = (this.hiddenValues[vocab] ??= new Set());
    if (visible) hidden.delete(code);
    else hidden.add(code);
    for (const layer of this.tiled()) if (layer.style?.filter && layer.style.vocab === vocab) this.restyle(layer.name);
  }

  /** Colour features by ids: {layer: {id: cssColour}}; replaces earlier highlights. A hidden
   * layer with features to colour is shown. Resolves once those layers are added. */
  async highlight(byLayer) {
    this.highlights = {};
    for (const [layer, colours] of Object.entries(byLayer)) this.highlightLayer(layer, colours);
    this.restyleAll();
    const hidden = Object.keys(byLayer).filter((l) => Object.keys(byLayer[l]).length && this.isTileset(l) && !this.shown.has(l));
    await Promise.all(hidden.map((l) => this.setVisible(l, true)));
  }

  /** Colour one layer's features by ids ({id: cssColour}), keeping the other layers' highlights. */
  highlightLayer(layer, colours) {
    this.highlights[layer] = new Map(Object.entries(colours).map(([id, c]) => [id, Cesium.Color.fromCssColorString(c)]));
    this.restyle(layer);
  }

  /** Show only these feature ids of a tileset (null: all again), or hide some ({hide: true}, added
   * to those hidden). */
  showIds(layer, ids, { hide = false } = {}) {
    if (hide) this.hiddenIds[layer] = new Set([...(this.hiddenIds[layer] ?? []), ...ids]);
    else if (ids) this.onlyIds[layer] = new Set(ids);
    else {
      delete this.onlyIds[layer];
      delete this.hiddenIds[layer];
    }
    this.restyle(layer);
  }

  clearHighlights() {
    this.highlight({});
  }

  /** The thematic maps of the tiled layers: [{value: 'layer:theme', key: i18n key}]. */
  themes() {
    return this.tiled().flatMap((l) => l.themes.map((th) => ({ value: `${l.name}:${th.name}`, key: `theme.${l.name}.${th.name}` })));
  }

  /** Colour a layer from the thematic endpoint ('layer:theme'); returns the legend shown. */
  async setTheme(choice) {
    const previous = this.themeColours?.layer;
    this.themeColours = null;
    if (previous) this.restyle(previous);
    if (!choice) return null;
    const [layer, theme] = choice.split(':');
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
    return { title: t(`theme.${layer}.${theme}`), items: [...legend, ...unknown] };
  }

  /** The thematic legend (if any) and the legends of the tiled layers' styles (each vocabulary once), as HTML. */
  legendHtml(themeLegend = null) {
    const swatches = (items) =>
      items.map((i) => `<li><span class="swatch" style="background:${escape(i.color)}"></span>${escape(i.label)}</li>`).join('');
    const blocks = themeLegend ? [`<h4>${escape(themeLegend.title)}</h4><ul id="theme-legend">${swatches(themeLegend.items)}</ul>`] : [];
    const seen = new Set();
    for (const layer of this.tiled()) {
      const style = layer.style;
      if (!style || seen.has(style.vocab ?? layer.name)) continue;
      seen.add(style.vocab ?? layer.name);
      const items = style.vocab
        ? vocabItems(this.registry.vocabularies[style.vocab]).filter(
            (item, i, all) => all.findIndex((o) => o.label === item.label && o.color === item.color) === i,
          )
        : [{ label: localised(layer.title), color: style.color }];
      const title = style.vocab ? t(`vocab.${style.vocab}`) : t(layer.name);
      blocks.push(`<h4>${escape(title)}</h4><ul data-legend="${escape(style.vocab ?? layer.name)}">${swatches(items)}</ul>`);
    }
    return blocks.join('');
  }
}

/** Build the layers panel from the registry: a checkbox per tiled or draped layer, under the first
 * layer filtered by a vocabulary a checkbox per code (utilities), the theme choice and the legend. */
export async function buildPanel(layers, root) {
  await layers.ready;
  const row = (key, attribute, label, checked, cls = '') =>
    `<label class="${cls}"><input type="checkbox" ${attribute}="${escape(key)}" ${checked ? 'checked' : ''}><span data-i18n="${escape(label)}"></span></label>`;
  const rows = [];
  const filtered = new Set();
  for (const layer of layers.registry?.layers ?? []) {
    if (!layer.tiles && !layer.draped) continue;
    rows.push(row(layer.name, 'data-layer', layer.name, layers.isShown(layer.name)));
    const style = layer.style;
    if (style?.filter && !filtered.has(style.vocab)) {
      filtered.add(style.vocab);
      for (const e of layers.registry.vocabularies[style.vocab].entries) {
        const hidden = layers.hiddenValues[style.vocab]?.has(e.code);
        rows.push(row(e.code, `data-vocab="${escape(style.vocab)}" data-code`, `${style.vocab}.${e.code}`, !hidden, 'sub'));
      }
    }
  }
  const options = layers.themes().map((th) => `<option value="${escape(th.value)}" data-i18n="${escape(th.key)}"></option>`);
  root.innerHTML = [
    ...rows,
    `<label>`,
    `<span data-i18n="theme"></span> <select id="theme"><option value="" data-i18n="theme_none"></option>${options.join('')}</select></label>`,
    `<h3 data-i18n="legend"></h3><div id="legend"></div>`,
  ].join('');
  layers.onReadable = () => {
    for (const box of root.querySelectorAll('input[data-layer]')) {
      const locked = !layers.readable(box.dataset.layer);
      box.parentElement.classList.toggle('locked', locked);
      box.parentElement.title = locked ? t('log_in_to_see') : '';
    }
  };
  layers.onReadable();
  layers.onVisibility = (layer, visible) => {
    const box = root.querySelector(`input[data-layer="${layer}"]`);
    if (box) box.checked = visible;
  };
  const legend = root.querySelector('#legend');
  legend.innerHTML = layers.legendHtml(layers.themeLegend);
  root.addEventListener('change', async (e) => {
    const el = e.target;
    if (el.dataset.layer) layers.setVisible(el.dataset.layer, el.checked);
    if (el.dataset.code) layers.setValueShown(el.dataset.vocab, el.dataset.code, el.checked);
    if (el.id === 'theme') {
      layers.themeLegend = await layers.setTheme(el.value).catch(() => null);
      legend.innerHTML = layers.legendHtml(layers.themeLegend);
    }
  });
  applyLabels(root);
}
