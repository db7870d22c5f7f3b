// Polygon collections draped on the ground as images (one canvas per collection, no encoding).
import * as api from './api.js';

const { Cesium } = window;

const GROUND_STYLES = {
  parcels: { fill: '#c8b46a', alpha: 0.3, outline: '#e6d38a', width: 2 },
  projects: { fill: '#4fa3e0', alpha: 0.4, outline: '#7fc1ff', width: 2 },
  roads: { fill: '#9aa0a6', alpha: 0.6, outline: '#9aa0a6', width: 1 },
};
const DRAPE_PIXELS = 2048; // the long side of a draped layer's image

/** One image over a rectangle, drawn in a canvas: handed to WebGL as it is, with no encoding. */
class CanvasImageryProvider extends Cesium.SingleTileImageryProvider {
  constructor(canvas, rectangle) {
    super({ url: 'data:,', rectangle, tileWidth: canvas.width, tileHeight: canvas.height });
    this.canvas = canvas;
  }

  requestImage() {
    return Promise.resolve(this.canvas);
  }
}

/** The lon/lat rings of a GeoJSON (Multi)Polygon. */
const ringsOf = (g) => (g.type === 'Polygon' ? g.coordinates : g.type === 'MultiPolygon' ? g.coordinates.flat() : []);

/**
 * Drape an OGC API Features collection (polygons) on the ground: the features drawn into one image
 * over their extent, shown as an imagery layer on the terrain. Cheaper to render than ground
 * primitives (one texture per terrain tile instead of a classification volume per polygon), which
 * matters with a software renderer; clicks on the ground still identify through the API.
 * Returns {name, count, show, layer}.
 */
export async function drapeCollection(viewer, collection) {
  const geojson = await api.collectionItems(collection);
  const rings = geojson.features.flatMap((f) => (f.geometry ? ringsOf(f.geometry) : []));
  const draped = { name: collection, count: geojson.features.length, layer: null };
  Object.defineProperty(draped, 'show', {
    get: () => draped.layer?.show ?? false,
    set: (v) => {
      if (draped.layer) draped.layer.show = v;
    },
  });
  if (!rings.length) return draped;
  const coords = rings.flat();
  let [w, s, e, n] = [Math.min(...coords.map((c) => c[0])), Math.min(...coords.map((c) => c[1])), Math.max(...coords.map((c) => c[0])), Math.max(...coords.map((c) => c[1]))];
  const pad = 0.01 * Math.max(e - w, n - s);
  [w, s, e, n] = [w - pad, s - pad, e + pad, n + pad];
  const metresPerDegreeRatio = Math.cos(Cesium.Math.toRadians((s + n) / 2));
  const aspect = ((e - w) * metresPerDegreeRatio) / (n - s);
  const [width, height] = aspect >= 1 ? [DRAPE_PIXELS, Math.max(64, Math.round(DRAPE_PIXELS / aspect))] : [Math.max(64, Math.round(DRAPE_PIXELS * aspect)), DRAPE_PIXELS];
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d');
  const style = GROUND_STYLES[collection];
  ctx.fillStyle = Cesium.Color.fromCssColorString(style.fill).withAlpha(style.alpha).toCssColorString();
  ctx.strokeStyle = style.outline;
  ctx.lineWidth = style.width;
  for (const feature of geojson.features) {
    if (!feature.geometry) continue;
    ctx.beginPath();
    for (const ring of ringsOf(feature.geometry)) {
      ring.forEach(([lon, lat], i) => {
        const [x, y] = [((lon - w) / (e - w)) * width, ((n - lat) / (n - s)) * height];
        if (i === 0) ctx.moveTo(x, y);
        else ctx.lineTo(x, y);
      });
      ctx.closePath();
    }
    ctx.fill('evenodd');
    ctx.stroke();
  }
  const provider = new CanvasImageryProvider(canvas, Cesium.Rectangle.fromDegrees(w, s, e, n));
  draped.layer = viewer.imageryLayers.addImageryProvider(provider);
  draped.layer.name = collection;
  return draped;
}
