// Polygon collections draped on the ground: all drawn into one canvas, shown as one imagery layer.
import * as api from './api.js';

const { Cesium } = window;

const DRAPE_PIXELS = 2048; // the long side of the draped image

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
 * OGC API Features collections (polygons) draped on the ground as one image over their common
 * extent, one imagery layer on the terrain. Cheaper to render than ground primitives (one texture
 * per terrain tile instead of a classification volume per polygon), and one layer rather than one
 * per collection: the globe's shader then samples one texture, and SwiftShader compiles one variant
 * of it instead of one per number of layers over a tile. Clicks on the ground identify through the API.
 */
export class Drapes {
  constructor(viewer) {
    this.viewer = viewer;
    this.styles = {}; // collection -> {fill, alpha, outline, width}, bottom to top (the registry's draped)
    this.counts = {}; // collection -> its number of features (those that arrived)
    this.polygons = {}; // collection -> [[ring, ...] per feature]
    this.hidden = new Set(); // collections not drawn (also those hidden before they arrived)
    this.layer = null;
    this.rectangle = null; // [w, s, e, n] in degrees
  }

  /** Fetch the collections and drape them; one that fails is left out (the banner says why). */
  async load(collections) {
    const answers = await Promise.allSettled(collections.map((c) => api.collectionItems(c)));
    collections.forEach((collection, i) => {
      if (answers[i].status !== 'fulfilled') return;
      const { features } = answers[i].value;
      this.polygons[collection] = features.filter((f) => f.geometry).map((f) => ringsOf(f.geometry));
      this.counts[collection] = features.length;
    });
    let [w, s, e, n] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const [lon, lat] of Object.values(this.polygons).flat(3)) {
      [w, s, e, n] = [Math.min(w, lon), Math.min(s, lat), Math.max(e, lon), Math.max(n, lat)];
    }
    if (w <= e) {
      const pad = 0.01 * Math.max(e - w, n - s);
      this.rectangle = [w - pad, s - pad, e + pad, n + pad];
    }
    this.redraw();
  }

  isShown(collection) {
    return !this.hidden.has(collection);
  }

  /** Show or hide a collection: the image is drawn again without it or with it. */
  setShown(collection, visible) {
    if (visible === this.isShown(collection)) return;
    if (visible) this.hidden.delete(collection);
    else this.hidden.add(collection);
    if (collection in this.counts) this.redraw();
  }

  /** Draw the shown collections into a new image and put it in place of the old one. */
  redraw() {
    if (this.layer) this.viewer.imageryLayers.remove(this.layer, true);
    this.layer = null;
    const shown = Object.keys(this.styles).filter((c) => c in this.counts && this.isShown(c) && this.polygons[c].length);
    if (!shown.length || !this.rectangle) return;
    const [w, s, e, n] = this.rectangle;
    const aspect = ((e - w) * Math.cos(Cesium.Math.toRadians((s + n) / 2))) / (n - s);
    const [width, height] = aspect >= 1 ? [DRAPE_PIXELS, Math.max(64, Math.round(DRAPE_PIXELS / aspect))] : [Math.max(64, Math.round(DRAPE_PIXELS * aspect)), DRAPE_PIXELS];
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    // rasterised on the CPU: drawn once, read once by WebGL; in a GPU canvas each of the city's
    // thousands of polygons becomes GPU work, which in software WebGL took seconds (100k city: 3.9 s)
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    for (const collection of shown) {
      const style = this.styles[collection];
      ctx.fillStyle = Cesium.Color.fromCssColorString(style.fill).withAlpha(style.alpha).toCssColorString();
      ctx.strokeStyle = style.outline;
      ctx.lineWidth = style.width;
      for (const rings of this.polygons[collection]) {
        ctx.beginPath();
        for (const ring of rings) {
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
    }
    this.layer = this.viewer.imageryLayers.addImageryProvider(new CanvasImageryProvider(canvas, Cesium.Rectangle.fromDegrees(w, s, e, n)));
  }
}
