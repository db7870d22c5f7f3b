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

/** Terrain from a callback that answers for every tile: saying so lets the globe request the tiles
 * the view needs at once, not one level after the other (it waits for a parent otherwise). */
class EveryTileTerrainProvider extends Cesium.CustomHeightmapTerrainProvider {
  getTileDataAvailable() {
    return true;
  }
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
  const provider = new EveryTileTerrainProvider({
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

/** Whether WebGL runs in software (SwiftShader or llvmpipe) rather than on a GPU. */
function softwareRenderer(scene) {
  const gl = scene.context._gl;
  const info = gl.getExtension('WEBGL_debug_renderer_info');
  const renderer = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : '';
  return /swiftshader|llvmpipe|software/i.test(renderer);
}

/** Create the viewer in `container`. `ground` resolves to the DEM's extent once the terrain is set
 * (null without a DEM: the banner says why and the ellipsoid stays as ground). */
export function createViewer(container) {
  const extentRequest = api.terrainExtent().catch(() => null); // on its way while the viewer is set up
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

  const ground = extentRequest.then((extent) => {
    if (extent) viewer.terrainProvider = demTerrain(extent, demGrid(extent).catch(() => null));
    return extent;
  });
  return { viewer, ground };
}
