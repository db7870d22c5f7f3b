// The Cesium viewer, offline: no ion, no imagery, the DEM as terrain, parcels and roads draped.
import * as api from './api.js';
import { message } from './ui.js';

const { Cesium } = window;
const HEIGHTMAP_SIZE = 33;
// A tile wider than this many DEM extents would show the whole DEM in a few samples: flat instead.
const COARSEST_TILE_IN_EXTENTS = 8;

/** A terrain provider that samples the DEM through the API inside its extent and is flat outside. */
function demTerrain(extent) {
  const [west, south, east, north] = extent.bbox;
  const inside = Cesium.Rectangle.fromDegrees(west, south, east, north);
  const coarsest = COARSEST_TILE_IN_EXTENTS * Math.max(inside.width, inside.height);
  const flat = new Float32Array(HEIGHTMAP_SIZE * HEIGHTMAP_SIZE).fill(extent.h_ellipsoidal_min);
  const provider = new Cesium.CustomHeightmapTerrainProvider({
    width: HEIGHTMAP_SIZE,
    height: HEIGHTMAP_SIZE,
    callback: (x, y, level) => {
      const rect = provider.tilingScheme.tileXYToRectangle(x, y, level);
      // a fresh array each time: Cesium hands the buffer over to a worker
      if (rect.width > coarsest || !Cesium.Rectangle.intersection(rect, inside)) return flat.slice();
      const deg = Cesium.Math.toDegrees;
      return api.terrainHeights(
        { west: deg(rect.west), south: deg(rect.south), east: deg(rect.east), north: deg(rect.north) },
        HEIGHTMAP_SIZE,
        extent.h_orthometric_min,
      );
    },
  });
  return provider;
}

/** Create the viewer in `container`; resolves once the ground is set up. */
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
  scene.globe.baseColor = Cesium.Color.fromCssColorString('#3d4a3a');
  scene.globe.depthTestAgainstTerrain = true;
  scene.globe.maximumScreenSpaceError = 4; // the DEM is smooth; fewer terrain tiles load faster
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
    viewer.terrainProvider = demTerrain(extent);
  } catch {
    // the banner already says why; the ellipsoid stays as ground
  }
  return { viewer, extent };
}

const GROUND_STYLES = {
  parcels: { fill: '#c8b46a', alpha: 0.25, outline: '#e6d38a' },
  roads: { fill: '#9aa0a6', alpha: 0.55, outline: '#9aa0a6' },
  projects: { fill: '#4fa3e0', alpha: 0.35, outline: '#7fc1ff' },
};

/** Drape an OGC API Features collection (polygons) on the ground as a GeoJsonDataSource. */
export async function drapeCollection(viewer, collection, props = {}) {
  const geojson = await api.collectionItems(collection);
  const s = GROUND_STYLES[collection];
  const source = await Cesium.GeoJsonDataSource.load(geojson, {
    clampToGround: true,
    fill: Cesium.Color.fromCssColorString(s.fill).withAlpha(s.alpha),
    stroke: Cesium.Color.fromCssColorString(s.outline),
    ...props,
  });
  source.name = collection;
  for (const entity of source.entities.values) {
    // drape on the ground only: classifying the 3D tiles too would cover (and catch the clicks of) buildings
    if (entity.polygon) entity.polygon.classificationType = Cesium.ClassificationType.TERRAIN;
  }
  await viewer.dataSources.add(source);
  return source;
}
