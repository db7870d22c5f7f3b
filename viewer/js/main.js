// Wires the page: viewer, layers, picking, tools, underground mode, review, login, language.
// window.cim exposes state and hooks the end-to-end tests and the benchmark use.
import * as api from './api.js';
import * as i18n from './i18n.js';
import { t } from './i18n.js';
import { Layers, buildPanel } from './layers.js';
import { setupLogin } from './login.js';
import { Picker, groundAt } from './picking.js';
import { Review } from './review.js';
import { createViewer } from './scene.js';
import { Incidents, Sketch, areaStatistics, profileAlong, hint } from './tools.js';
import { message, status, closePanel, shown } from './ui.js';
import { Excavation, setUnderground } from './underground.js';

const { Cesium } = window;
const $ = (id) => document.getElementById(id);

const cim = {
  metrics: {}, // firstAllLoadedMs: navigation to the first frame with every visible tile loaded
  events: { allTilesLoaded: {}, identified: 0, reviewed: 0, picked: 0 },
  errors: [],
  messages: shown, // every banner message, also those gone again
};
window.cim = cim;

// Anything that goes wrong shows in the page, never a blank globe.
window.addEventListener('error', (e) => {
  cim.errors.push(String(e.message));
  message(`${t('error')}: ${e.message}`);
});
window.addEventListener('unhandledrejection', (e) => {
  const reason = e.reason?.message ?? String(e.reason);
  cim.errors.push(reason);
  if (!(e.reason instanceof api.ApiError)) message(`${t('error')}: ${reason}`);
});
api.on('error', (exc) => {
  cim.errors.push(exc.message);
  message(exc.message, 'error', exc.url);
});
const slowDrops = new Map();
api.on('slow', (url, done) => {
  if (done) slowDrops.get(url)?.();
  else slowDrops.set(url, message(`${t('slow')}${url}`, 'warn', `slow-${url}`));
});

/** Resolves on the first rendered frame where the globe and every shown tileset have all tiles loaded. */
function waitForTiles(layers, viewer) {
  return new Promise((resolve) => {
    const check = () => {
      const shown = Object.values(layers.tilesets).filter((ts) => ts.show);
      if (viewer.scene.globe.tilesLoaded && shown.every((ts) => ts.tilesLoaded)) {
        remove();
        resolve(performance.now());
      }
    };
    const remove = viewer.scene.postRender.addEventListener(check);
  });
}

function initialView(viewer, extent) {
  if (!extent) return;
  const [w, s, e, n] = extent.bbox;
  const sphere = Cesium.BoundingSphere.fromRectangle3D(Cesium.Rectangle.fromDegrees(w, s, e, n), Cesium.Ellipsoid.WGS84, extent.h_ellipsoidal_min);
  viewer.camera.flyToBoundingSphere(sphere, { duration: 0, offset: new Cesium.HeadingPitchRange(0, -0.75, sphere.radius * 1.6) });
}

/** Centre (lon, lat) of a GeoJSON geometry: inside a polygon when the vertex mean is not. */
function centreOf(geometry) {
  const ring = geometry.type === 'Polygon' ? geometry.coordinates[0] : geometry.type === 'MultiPolygon' ? geometry.coordinates[0][0] : null;
  const coords = ring ?? (geometry.type === 'Point' ? [geometry.coordinates] : geometry.type === 'LineString' ? geometry.coordinates : geometry.coordinates.flat(2));
  if (!ring) return coords[Math.floor(coords.length / 2)];
  const pts = ring.slice(0, -1);
  const mean = [pts.reduce((a, p) => a + p[0], 0) / pts.length, pts.reduce((a, p) => a + p[1], 0) / pts.length];
  const inside = ([x, y]) => {
    let ok = false;
    for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
      const [xi, yi] = pts[i];
      const [xj, yj] = pts[j];
      if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) ok = !ok;
    }
    return ok;
  };
  return inside(mean) ? mean : [(pts[0][0] + pts[1][0] + pts[2][0]) / 3, (pts[0][1] + pts[1][1] + pts[2][1]) / 3];
}

async function main() {
  i18n.apply();
  status(t('loading'));
  const { viewer, ground } = createViewer($('globe'));
  cim.viewer = viewer;
  const layers = new Layers(viewer);
  cim.layers = layers;
  layers.onTileset = (layer, tileset) => {
    cim.events.allTilesLoaded[layer] = 0;
    tileset.allTilesLoaded.addEventListener(() => {
      cim.events.allTilesLoaded[layer] += 1;
    });
  };
  const firstFrame = Promise.all([layers.loadAll(), ground]).then(() => waitForTiles(layers, viewer));
  cim.allLoaded = firstFrame.then((ms) => {
    cim.metrics.firstAllLoadedMs = ms;
    status(`${t('tiles_loaded')} (${(ms / 1000).toFixed(1)} s)`);
    return ms;
  });
  const extent = await ground;
  initialView(viewer, extent);
  buildPanel(layers, $('layers-body'));

  const picker = new Picker(viewer, layers);
  const incidents = new Incidents(viewer, layers);
  const excavation = new Excavation(viewer);
  const undulation = extent ? extent.h_ellipsoidal_min - extent.h_orthometric_min : 0;
  const review = new Review(viewer, layers, $('review-progress'), $('review-label'), undulation);
  cim.picker = picker;
  cim.review = review;

  // One click handler: the active tool takes the clicks, else a click identifies.
  let tool = null;
  const stopTool = () => {
    tool?.sketch?.remove();
    tool = null;
    status('');
  };
  const handler = new Cesium.ScreenSpaceEventHandler(viewer.scene.canvas);
  handler.setInputAction(async (e) => {
    if (!tool) {
      cim.lastIdentify = await picker.identify(e.position).catch(() => null);
      cim.events.identified += 1;
      return;
    }
    const ground = groundAt(viewer.scene, e.position);
    if (!ground) return;
    if (tool.sketch) tool.sketch.add(ground);
    else {
      const point = tool.point;
      stopTool();
      await point(ground).catch(() => null);
    }
  }, Cesium.ScreenSpaceEventType.LEFT_CLICK);
  handler.setInputAction(() => {
    if (tool?.sketch?.finish()) stopTool();
  }, Cesium.ScreenSpaceEventType.LEFT_DOUBLE_CLICK);
  viewer.cesiumWidget.screenSpaceEventHandler.removeInputAction(Cesium.ScreenSpaceEventType.LEFT_DOUBLE_CLICK);

  const sketchTool = (closed, run, key) => {
    stopTool();
    tool = { sketch: new Sketch(viewer, { closed, onFinish: (points) => run(points).catch(() => null) }) };
    hint(key);
  };
  $('tool-polygon').onclick = () => sketchTool(true, areaStatistics, 'click_polygon');
  $('tool-profile').onclick = () => sketchTool(false, profileAlong, 'click_line');
  const incidentParams = () => {
    const params = { type: $('incident-type').value, radius_m: Number($('incident-radius').value) };
    if (params.type === 'flood') params.water_level_m = Number($('incident-water').value);
    return params;
  };
  cim.incident = (params) => incidents.run(params);
  $('incident-run').onclick = () => {
    const pipeId = $('incident-pipe').value.trim() || (picker.last?.layer === 'pipelines' ? picker.last.id : '');
    if (pipeId) return incidents.run({ ...incidentParams(), pipe_id: pipeId }).catch(() => null);
    stopTool();
    tool = { point: (g) => incidents.run({ ...incidentParams(), location: { type: 'Point', coordinates: [g.lon, g.lat] } }) };
    return hint('pick_point');
  };
  $('tool-clear').onclick = () => {
    stopTool();
    incidents.clear();
    excavation.clear();
    review.clear();
    picker.select(null);
    closePanel();
  };

  // Underground mode shows the layers below the ground (loading them the first time).
  const underground = (on) => {
    $('underground').checked = on;
    setUnderground(viewer, on, Number($('ground-alpha').value));
    if (on) for (const layer of layers.underground()) layers.setVisible(layer, true);
  };
  $('underground').onchange = (e) => underground(e.target.checked);
  $('ground-alpha').oninput = (e) => $('underground').checked && setUnderground(viewer, true, Number(e.target.value));
  $('excavate').onclick = () => {
    stopTool();
    underground(true);
    tool = { point: (g) => excavation.dig(g, Number($('excavate-size').value), Number($('excavate-depth').value)) };
    hint('pick_point');
  };

  $('review-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const file = $('review-file').files[0];
    if (!file) return;
    review
      .run(file, $('review-project').value.trim())
      .catch((exc) => {
        message(exc.message);
        return null;
      })
      .then((report) => {
        cim.lastReview = report;
        cim.events.reviewed += 1;
      });
  });

  $('lang').onclick = () => {
    i18n.setLanguage(i18n.language() === 'zh' ? 'en' : 'zh');
    $('legend').innerHTML = layers.legendHtml(layers.themeLegend);
    refreshLogin();
  };
  const refreshLogin = setupLogin();

  // Search: its modules load the first time the box gets the focus (nothing more on the first view).
  const searchInput = $('search-input');
  searchInput.addEventListener(
    'focus',
    async () => {
      const { Search } = await import('./search.js');
      cim.search = new Search(viewer, searchInput, $('search-list'), {
        picked: (hit) => {
          cim.lastPicked = hit;
          cim.events.picked += 1;
        },
      });
    },
    { once: true },
  );
  $('panel-close').onclick = closePanel;

  // The live city loads when its section is first opened (no request on the first view).
  cim.live = { connected: false, seen: {}, statuses: {}, compartments: {}, open: [], readings: 0 };
  $('live').addEventListener('toggle', async (e) => {
    if (!e.target.open || cim.live.module) return;
    const { Live } = await import('./live.js');
    const offset = extent ? extent.h_ellipsoidal_min - extent.h_orthometric_min : 0;
    cim.live.module = new Live(viewer, offset, cim.live);
    await cim.live.module.start();
  });

  // Credit supervision loads when its section is first opened (no request on the first view).
  cim.credit = {};
  $('credit').addEventListener('toggle', async (e) => {
    if (!e.target.open || cim.credit.module) return;
    const { Credit } = await import('./credit.js');
    cim.credit.module = new Credit(viewer, $('credit-body'), extent?.h_ellipsoidal_min ?? 0, cim.credit);
    await cim.credit.module.start();
    cim.credit.ready = true;
  });

  // Test and benchmark hooks.
  cim.waitForTiles = () => waitForTiles(layers, viewer);
  cim.flyToFeature = async (collection, id, above = 250) => {
    const feature = await api.collectionItem(collection, id);
    const [lon, lat] = centreOf(feature.geometry);
    const top = (extent?.h_ellipsoidal_min ?? 0) + (feature.properties?.height_m ?? 0);
    viewer.camera.setView({
      destination: Cesium.Cartesian3.fromDegrees(lon, lat, top + above),
      orientation: { heading: 0, pitch: -Cesium.Math.PI_OVER_TWO, roll: 0 },
    });
    return waitForTiles(layers, viewer);
  };
  cim.ready = true;
  await cim.allLoaded;
}

cim.started = main().catch((exc) => {
  cim.errors.push(String(exc));
  message(`${t('error')}: ${exc.message ?? exc}`);
});
