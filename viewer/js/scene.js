// The Cesium viewer, offline: no ion, no imagery, the DEM as terrain, parcels and roads draped.
import * as api from './api.js';
import { message } from './ui.js';

const { Cesium } = window;
const HEIGHTMAP_SIZE = 33;
// A tile wider than this many DEM extents would show the whole DEM in a few samples: flat instead.
const COARSEST_TILE_IN_EXTENTS = 8;
// The DEM is fetched once as GRID_BLOCKS x GRID_BLOCKS blocks of the API's largest heightmap and
// sampled here: terrain tiles then need no request each (the sample city's 5 m DEM is smooth).
const BLOCK = 129;
const GRID_BLOCKS = 2;

/** The DEM over its extent as one grid of ellipsoidal heights (rows north to south), from the API. */
async function demGrid(extent) {
  const [west, south, east, north] = extent.bbox;
  const n = GRID_BLOCKS * (BLOCK - 1) + 1;
  const dx = (east - west) / (n - 1);
  const dy = (north - south) / (n - 1);
  const grid = new Float32Array(n * n);
  const blocks = [];
  for (let bj = 0; bj < GRID_BLOCKS; bj += 1) {
    for (let bi = 0; bi < GRID_BLOCKS; bi += 1) {
      const [c0, r0] = [bi * (BLOCK - 1), bj * (BLOCK - 1)];
      const rect = { west: west + c0 * dx, east: west + (c0 + BLOCK - 1) * dx, north: north - r0 * dy, south: north - (r0 + BLOCK - 1) * dy };
      blocks.push(
        api.terrainHeights(rect, BLOCK, extent.h_orthometric_min).then((heights) => {
          for (let r = 0; r < BLOCK; r += 1) grid.set(heights.subarray(r * BLOCK, (r + 1) * BLOCK), (r0 + r) * n + c0);
        }),
      );
    }
  }
  await Promise.all(blocks);
  return { west, south, east, north, n, dx, dy, grid };
}

/** Bilinear height from the grid at lon/lat (degrees), or `fill` outside it. */
function sample(dem, lon, lat, fill) {
  const fx = (lon - dem.west) / dem.dx;
  const fy = (dem.north - lat) / dem.dy;
  const last = dem.n - 1;
  if (!(fx >= 0 && fy >= 0 && fx <= last && fy <= last)) return fill;
  const [c, r] = [Math.min(Math.floor(fx), last - 1), Math.min(Math.floor(fy), last - 1)];
  const [u, v] = [fx - c, fy - r];
  const g = dem.grid;
  const i = r * dem.n + c;
  return (1 - v) * ((1 - u) * g[i] + u * g[i + 1]) + v * ((1 - u) * g[i + dem.n] + u * g[i + dem.n + 1]);
}

/** A terrain provider with the DEM (sampled from its local grid once `dem` resolves) inside its
 * extent, flat outside: the tilesets load meanwhile. */
function demTerrain(extent, dem) {
  const [west, south, east, north] = extent.bbox;
  const inside = Cesium.Rectangle.fromDegrees(west, south, east, north);
  const coarsest = COARSEST_TILE_IN_EXTENTS * Math.max(inside.width, inside.height);
  const fill = extent.h_ellipsoidal_min;
  const flat = () => new Float32Array(HEIGHTMAP_SIZE * HEIGHTMAP_SIZE).fill(fill);
  const heightsIn = (rect, grid) => {
    // a fresh array each time: Cesium hands the buffer over to a worker
    const heights = flat();
    const deg = Cesium.Math.toDegrees;
    const [w, n] = [deg(rect.west), deg(rect.north)];
    const [sx, sy] = [deg(rect.width) / (HEIGHTMAP_SIZE - 1), deg(rect.height) / (HEIGHTMAP_SIZE - 1)];
    for (let r = 0; r < HEIGHTMAP_SIZE; r += 1) {
      for (let c = 0; c < HEIGHTMAP_SIZE; c += 1) heights[r * HEIGHTMAP_SIZE + c] = sample(grid, w + c * sx, n - r * sy, fill);
    }
    return heights;
  };
  const provider = new Cesium.CustomHeightmapTerrainProvider({
    width: HEIGHTMAP_SIZE,
    height: HEIGHTMAP_SIZE,
    callback: (x, y, level) => {
      const rect = provider.tilingScheme.tileXYToRectangle(x, y, level);
      if (rect.width > coarsest || !Cesium.Rectangle.intersection(rect, inside)) return flat();
      // without the DEM (its request failed: the banner says so) the ground stays flat
      return dem.then((grid) => (grid ? heightsIn(rect, grid) : flat()));
    },
  });
  return provider;
}

/** Create the viewer in `container`; resolves once the ground is set up. */
/** Whether WebGL runs in software (SwiftShader or llvmpipe) rather than on a GPU. */
function softwareRenderer(scene) {
  const gl = scene.context._gl;
  const info = gl.getExtension('WEBGL_debug_renderer_info');
  const renderer = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : '';
  return /swiftshader|llvmpipe|software/i.test(renderer);
}

export async function createViewer(container) {
  Cesium.Ion.defaultAccessToken = undefined;
  const viewer = new Cesium.Viewer(container, {
    baseLayer: false,
    baseLayerPicker: false,
    geocoder: false,
    homeButton: false,
    sceneModePicker: false,
    navigationHelpButton: false,
    animation: false,
    timeline: false,
    fullscreenButton: false,
    infoBox: false,
    selectionIndicator: false,
    terrainProvider: new Cesium.EllipsoidTerrainProvider(),
    requestRenderMode: false,
    msaaSamples: 1,
  });
  const { scene } = viewer;
  if (softwareRenderer(scene)) {
    // WebGL in software (SwiftShader, no GPU): every pixel and every terrain tile costs CPU, so
    // draw at half resolution (screen-space error counts drawing-buffer pixels: fewer tiles too).
    viewer.resolutionScale = 0.5;
  }
  scene.globe.baseColor = Cesium.Color.fromCssColorString('#3d4a3a');
  scene.globe.depthTestAgainstTerrain = true;
  scene.globe.maximumScreenSpaceError = 8; // the DEM is smooth: coarse terrain tiles look the same, and load faster
  scene.skyAtmosphere.show = false;
  scene.fog.enabled = false;
  scene.globe.showGroundAtmosphere = false;
  scene.backgroundColor = Cesium.Color.fromCssColorString('#1b2430');
  scene.skyBox.show = false;
  scene.sun.show = false;
  scene.moon.show = false;
  viewer.cesiumWidget.creditContainer.style.display = 'none';
  viewer.scene.renderError.addEventListener((_, error) => message(`WebGL: ${error}`));
  viewer.cesiumWidget.showErrorPanel = (title, msg) => message(`${title}: ${msg ?? ''}`);

  let extent = null;
  try {
    extent = await api.terrainExtent();
    viewer.terrainProvider = demTerrain(extent, demGrid(extent).catch(() => null));
  } catch {
    // the banner already says why; the ellipsoid stays as ground
  }
  return { viewer, extent };
}

const GROUND_STYLES = {
  parcels: { fill: '#c8b46a', alpha: 0.3, outline: '#e6d38a', width: 2 },
  projects: { fill: '#4fa3e0', alpha: 0.4, outline: '#7fc1ff', width: 2 },
  roads: { fill: '#9aa0a6', alpha: 0.6, outline: '#9aa0a6', width: 1 },
};
const DRAPE_PIXELS = 2048; // the long side of a draped layer's image

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
  // toBlob encodes off the main thread; the blob: URL never leaves the page
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
  const provider = await Cesium.SingleTileImageryProvider.fromUrl(URL.createObjectURL(blob), {
    rectangle: Cesium.Rectangle.fromDegrees(w, s, e, n),
  });
  draped.layer = viewer.imageryLayers.addImageryProvider(provider);
  draped.layer.name = collection;
  return draped;
}
