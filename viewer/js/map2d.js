// The 2D map: MapLibre GL JS (vendored from npm, loaded the first time the map is switched to 2D, so
// the 3D first view never waits for it) over the city's vector tiles through their TileJSON, styled by
// the server's MapLibre style (/api/v1/maps/style.json: the registry's colours, road and place names,
// glyphs made by the server), with a legend of every layer drawn and the imported imagery underneath.
import { language } from './i18n.js';

const API = '/api/v1';
const VENDOR = '/vendor/maplibre-gl';

function addStylesheets() {
  for (const href of [`${VENDOR}/maplibre-gl.css`, 'css/map2d.css']) {
    if (document.querySelector(`link[href="${href}"]`)) continue;
    const link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = href;
    document.head.append(link);
  }
}

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The legend of the style's layers (``metadata["cim:legend"]``) as HTML, in the page's language. */
export function legendHtml(legend, lang = language()) {
  const label = (l) => l[lang] ?? l.zh;
  return legend
    .map(
      (layer) =>
        `<section data-layer="${escape(layer.layer)}"><h4>${escape(label(layer.title))}</h4><ul>${layer.items
          .map(
            (item) =>
              `<li data-value="${escape(item.value ?? '')}" data-color="${escape(item.color)}"><span class="swatch" style="background:${escape(item.color)};opacity:${Math.max(item.alpha, 0.3)}"></span>${escape(label(item.label))}</li>`,
          )
          .join('')}</ul></section>`,
    )
    .join('');
}

/** The 2D map in ``container`` (made once; later calls show it again). */
export class Map2D {
  constructor(container) {
    this.container = container;
    this.legend = [];
    this.requests = { tilejson: 0, tiles: 0 };
  }

  /** Load MapLibre and the style, draw the map and its legend; resolves when the map is idle. */
  async open(bounds) {
    addStylesheets();
    const [maplibregl, style] = await Promise.all([
      import(`${VENDOR}/maplibre-gl.mjs`),
      fetch(`${API}/maps/style.json`).then((r) => r.json()),
    ]);
    this.legend = style.metadata['cim:legend'];
    // Imported imagery (the demo's: the DEM's hillshade) under the vector layers.
    const imagery = await fetch(`${API}/imagery`).then((r) => (r.ok ? r.json() : []));
    imagery.forEach((layer, i) => {
      const id = `imagery-${layer.name}`;
      style.sources[id] = { type: 'raster', tiles: [`${location.origin}${layer.tiles}`], tileSize: 256, bounds: layer.bounds, maxzoom: layer.maxzoom };
      style.layers.splice(1 + i, 0, { id, type: 'raster', source: id, paint: { 'raster-opacity': 0.6 } });
    });
    this.imagery = imagery.map((layer) => layer.name);
    const mapDiv = document.createElement('div');
    mapDiv.className = 'map2d-canvas';
    const legendDiv = document.createElement('div');
    legendDiv.className = 'map2d-legend';
    legendDiv.innerHTML = legendHtml(this.legend);
    this.container.append(mapDiv, legendDiv);
    this.legendDiv = legendDiv;
    this.map = new maplibregl.Map({
      container: mapDiv,
      style,
      bounds,
      fitBoundsOptions: { padding: 20 },
      localIdeographFontFamily: false, // CJK from the server's glyphs too, as Latin
      attributionControl: false,
      transformRequest: (url, kind) => {
        if (kind === 'Source') this.requests.tilejson += 1;
        if (kind === 'Tile' && url.includes('/mvt/')) this.requests.tiles += 1;
        return { url };
      },
    });
    this.map.addControl(new maplibregl.NavigationControl(), 'top-right');
    this.map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-left');
    await new Promise((resolve, reject) => {
      this.map.once('idle', resolve);
      this.map.once('error', (e) => reject(e.error ?? e));
    });
    return this;
  }

  /** Redraw the legend in the current language. */
  relabel() {
    if (this.legendDiv) this.legendDiv.innerHTML = legendHtml(this.legend);
  }

  /** Resolves on the map's next idle frame (every tile in view loaded and drawn). */
  idle() {
    return new Promise((resolve) => {
      if (this.map.loaded() && this.map.areTilesLoaded()) resolve();
      this.map.once('idle', resolve);
    });
  }
}

/** The 2D/3D switch: the button toggles between the globe and the 2D map (made on first use, over
 * the bounds of the city's buildings). ``state`` (window.cim.map2d) gains ``mode`` and ``map``. */
export async function toggle(button, globe, host, state) {
  const to2d = state.mode !== '2d';
  if (to2d && !state.map) {
    const tilejson = await fetch(`${API}/mvt/buildings/tilejson.json`).then((r) => r.json());
    const [w, s, e, n] = tilejson.bounds;
    state.map = new Map2D(host);
    host.hidden = false;
    globe.hidden = true;
    state.loading = state.map.open([[w, s], [e, n]]);
    await state.loading;
  }
  host.hidden = !to2d;
  globe.hidden = to2d;
  state.mode = to2d ? '2d' : '3d';
  button.textContent = to2d ? '3D' : '2D';
  if (to2d) state.map.map.resize();
  return state;
}
