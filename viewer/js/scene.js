// The Cesium viewer, offline: no ion, no imagery, the DEM as terrain, parcels and roads draped.
import { useShippedBrdfLut } from './brdf.js';
import { demExtent, demGrid, heightAt } from './ground.js';
import { message } from './ui.js';

const { Cesium } = window;
const HEIGHTMAP_SIZE = 33;
const LOAD_SLICE_MS = 50; // until the first full view; CesiumJS's own 5 ms after it, for smooth flights
const CESIUM_LOAD_SLICE_MS = 5;
// A tile wider than this many DEM extents would show the whole DEM in a few samples: flat instead.
const COARSEST_TILE_IN_EXTENTS = 8;

/** Heights meshed on the page's thread, at once (CesiumJS's own synchronous mesher), not by its mesh
 * worker 5 at a time: a 33×33 grid is about a millisecond of work, less than starting that worker (a
 * module and some 20 chunks, loaded once the first tile needs it) and handing every tile to it and back. */
class MeshedHeightmap extends Cesium.HeightmapTerrainData {
  createMesh(options) {
    return Promise.resolve(this._createMeshSync(options));
  }
}

/** Terrain from a callback that answers for every tile: saying so lets the globe request the tiles
 * the view needs at once, not one level after the other (it waits for a parent otherwise). */
class EveryTileTerrainProvider extends Cesium.CustomHeightmapTerrainProvider {
  getTileDataAvailable() {
    return true;
  }

  requestTileGeometry(x, y, level) {
    const heights = this._callback(x, y, level);
    if (heights === undefined) return undefined; // as CesiumJS's: try again later
    return Promise.resolve(heights).then((buffer) => new MeshedHeightmap({ buffer: ArrayBuffer.isView(buffer) ? buffer : new Float64Array(buffer), width: this.width, height: this.height }));
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
      for (let c = 0; c < HEIGHTMAP_SIZE; c += 1) heights[r * HEIGHTMAP_SIZE + c] = heightAt(grid, w + c * sx, n - r * sy, fill);
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
  useShippedBrdfLut(scene);
  if (softwareRenderer(scene)) {
    // WebGL in software (SwiftShader, no GPU): every pixel and every terrain tile costs CPU, so
    // draw at half resolution (screen-space error counts drawing-buffer pixels: fewer tiles too).
    viewer.resolutionScale = 0.5;
    // CesiumJS loads terrain tiles for 5 ms a frame; a frame drawn in software takes 100 ms and more,
    // so the ground came in over many frames: give loading a share of the frame like drawing's.
    scene.globe._surface._loadQueueTimeSlice = LOAD_SLICE_MS;
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

  const ground = demExtent().then((extent) => {
    if (extent) viewer.terrainProvider = demTerrain(extent, demGrid());
    return extent;
  });
  return { viewer, ground };
}

/** Once the first view is complete: terrain loads 5 ms a frame again, as CesiumJS has it (flights stay smooth). */
export function firstViewDone(viewer) {
  viewer.scene.globe._surface._loadQueueTimeSlice = CESIUM_LOAD_SLICE_MS;
}

/** Resolves once every entity of `dataSource` is drawn: CesiumJS builds entity geometry (ground
 * classification above all) over later frames, so a pick straight after adding them finds nothing. */
export function entitiesDrawn(viewer, dataSource) {
  const sphere = new Cesium.BoundingSphere();
  const drawn = () =>
    dataSource.entities.values.every(
      (e) => viewer.dataSourceDisplay.getBoundingSphere(e, false, sphere) !== Cesium.BoundingSphereState.PENDING,
    );
  return new Promise((resolve) => {
    if (drawn()) return resolve();
    const remove = viewer.scene.postRender.addEventListener(() => {
      if (drawn()) {
        remove();
        resolve();
      }
    });
    viewer.scene.requestRender();
  });
}
