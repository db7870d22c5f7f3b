// Wires the page: viewer, layers, picking, tools, underground mode, review, login, language.
// window.cim exposes state and hooks the end-to-end tests and the benchmark use.
import * as api from './api.js';
import * as i18n from './i18n.js';
import { t } from './i18n.js';
import { Layers, buildPanel } from './layers.js';
import { setupLogin } from './login.js';
import { Navigation, bookmarks, cameraState, hashToView, setCamera, viewToHash } from './navigate.js';
import { Picker, groundAt } from './picking.js';
import { loadKit, wireTables } from './kit.js';
import { Review, fillProjects } from './review.js';
import { createViewer, firstViewDone } from './scene.js';
import { Excavation, wireSection } from './cut.js';
import { Incidents, Measure, centreOf, Sketch, areaStatistics, measurePanel, pipeDepth, profileAlong, hint } from './tools.js';
import { message, status, closePanel, shown, escape, loadCardLabels } from './ui.js';
import { setUnderground, squareAround } from './underground.js';

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
    cim.section?.apply(tileset); // a section already set cuts the tilesets that come later too
    cim.excavation?.apply(tileset); // so does a pit dug
  };
  const firstFrame = Promise.all([layers.loadAll(), ground]).then(() => waitForTiles(layers, viewer));
  cim.allLoaded = firstFrame.then((ms) => {
    cim.metrics.firstAllLoadedMs = ms;
    firstViewDone(viewer);
    status(`${t('tiles_loaded')} (${(ms / 1000).toFixed(1)} s)`);
    loadCardLabels(); // the panels' words for record fields, once the first view is complete
    return ms;
  });
  // Imported imagery drapes the globe once the first view is complete.
  cim.imagery = cim.allLoaded.then(() => import('./imagery.js')).then(({ addImagery }) => addImagery(viewer));
  const extent = await ground;
  const navigation = new Navigation(viewer, extent);
  cim.navigation = navigation;
  const linked = hashToView(location.hash);
  if (linked) setCamera(viewer.camera, linked.camera);
  else navigation.home();
  buildPanel(layers, $('layers-body'));

  const picker = new Picker(viewer, layers);
  const incidents = new Incidents(viewer, layers);
  const excavation = new Excavation(viewer, layers);
  cim.excavation = excavation;
  const undulation = extent ? extent.h_ellipsoidal_min - extent.h_orthometric_min : 0;
  const review = new Review(viewer, layers, $('review-progress'), $('review-label'), undulation);
  cim.picker = picker;
  cim.review = review;
  // The UI kit (Vue 3 + Element Plus): its bundle loads after the first full view, or when first used.
  cim.kit = () => loadKit(layers, picker);
  picker.cards = async (el, answer) => (await cim.kit()).card(el, answer);
  cim.allLoaded.then(() => cim.kit().then((kit) => kit.setLanguage(i18n.language()))).catch(() => null);
  const fillTables = wireTables(layers, picker, $('table-layer'), $('table-open'));
  $('model-tree').addEventListener('toggle', async (e) => {
    if (e.target.open && !cim.tree) cim.tree = (await cim.kit()).tree($('model-tree-body'));
  });

  // One click handler: the active tool takes the clicks, else a click identifies.
  let tool = null; // {name, sketch}, {name, point} or {name, click}
  const drawings = []; // finished sketches and measurements: they stay until cleared
  const stopTool = () => {
    if (tool?.sketch?.done) drawings.push(tool.sketch);
    else tool?.sketch?.remove();
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
    if (tool.click) {
      await tool.click(e.position);
      return;
    }
    const ground = groundAt(viewer.scene, e.position);
    if (!ground) return;
    if (tool.sketch) {
      tool.sketch.add(ground);
      if (tool.sketch.done) stopTool(); // a two-click measurement finishes by itself
    }
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

  const sketchTool = (name, closed, run, key) => {
    stopTool();
    tool = { name, sketch: new Sketch(viewer, { closed, onFinish: (points) => run(points).catch(() => null) }) };
    hint(key);
  };
  const pointTool = (name, point) => {
    stopTool();
    tool = { name, point };
    hint('pick_point');
  };
  // The tools a share link can open, by name.
  const TOOLS = {
    polygon: () => sketchTool('polygon', true, areaStatistics, 'click_polygon'),
    profile: () => sketchTool('profile', false, profileAlong, 'click_line'),
  };
  const measured = (result) => {
    cim.lastMeasure = result;
    measurePanel(result);
  };
  const measureTool = (mode) => {
    stopTool();
    tool = { name: `measure-${mode}`, sketch: new Measure(viewer, mode, measured) };
    hint(mode === 'height' ? 'click_line' : mode === 'area' ? 'click_polygon' : 'click_line');
  };
  for (const mode of ['distance', 'area', 'height']) {
    TOOLS[`measure-${mode}`] = () => measureTool(mode);
    $(`measure-${mode}`).onclick = TOOLS[`measure-${mode}`];
  }
  TOOLS['measure-depth'] = () => {
    stopTool();
    underground(true);
    tool = {
      name: 'measure-depth',
      click: async (position) => {
        const picked = viewer.scene.pick(position);
        if (!(picked instanceof Cesium.Cesium3DTileFeature) || picked.tileset.layerName !== 'pipelines') return;
        const result = await pipeDepth(viewer, picked, position);
        if (result) measured(result);
      },
    };
    hint('click_pipe');
  };
  $('measure-depth').onclick = TOOLS['measure-depth'];
  cim.section = wireSection(viewer, layers, extent?.h_ellipsoidal_min ?? 0);
  const startTool = (name) => TOOLS[name]?.();
  $('tool-polygon').onclick = TOOLS.polygon;
  $('tool-profile').onclick = TOOLS.profile;
  const incidentParams = () => {
    const params = { type: $('incident-type').value, radius_m: Number($('incident-radius').value) };
    if (params.type === 'flood') params.water_level_m = Number($('incident-water').value);
    return params;
  };
  cim.incident = (params) => incidents.run(params);
  cim.incidents = incidents;
  $('incident-run').onclick = () => {
    const pipeId = $('incident-pipe').value.trim() || (picker.last?.layer === 'pipelines' ? picker.last.id : '');
    if (pipeId) return incidents.run({ ...incidentParams(), pipe_id: pipeId }).catch(() => null);
    return pointTool('incident', (g) => incidents.run({ ...incidentParams(), location: { type: 'Point', coordinates: [g.lon, g.lat] } }));
  };
  $('tool-clear').onclick = () => {
    stopTool();
    for (const drawing of drawings.splice(0)) drawing.remove();
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
    underground(true);
    pointTool('excavate', (g) => excavation.dig(squareAround(g.lon, g.lat, Number($('excavate-size').value)), Number($('excavate-depth').value)));
  };
  $('excavate-draw').onclick = () => {
    underground(true);
    sketchTool('excavate-draw', true, (points) => excavation.dig(points, Number($('excavate-depth').value)), 'click_polygon');
  };

  // the review form's projects: the API gives them to a logged-in user (now, or at the next login)
  const projects = () => (cim.projects = fillProjects($('review-project')).catch(() => null));
  cim.allLoaded.then(projects);
  $('review-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const form = { file: $('review-file').files[0], project: $('review-project').value, crs: $('review-crs').value.trim(), origin: $('review-origin').value.trim() };
    review
      .submit(form)
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
    cim.kit().then((kit) => kit.setLanguage(i18n.language()), () => null);
    fillTables.then((fill) => fill());
    $('legend').innerHTML = layers.legendHtml(layers.themeLegend);
    cim.map2d.map?.relabel();
    refreshLogin();
  };
  // after a login: the layers only a login may read, and the review form's projects
  const refreshLogin = setupLogin(() => Promise.all([layers.loadAll(), projects()]));

  // Search: its modules load once the first view is complete (or at the box's first focus, if sooner).
  const searchInput = $('search-input');
  cim.allLoaded.then(() => import('./search.js'));
  searchInput.addEventListener(
    'focus',
    async () => {
      const { Search } = await import('./search.js');
      cim.search = new Search(viewer, searchInput, $('search-list'), {
        groundHeight: extent?.h_ellipsoidal_min ?? 0,
        picked: (hit) => {
          cim.lastPicked = hit;
          cim.events.picked += 1;
        },
      });
    },
    { once: true },
  );
  $('panel-close').onclick = closePanel;

  // Navigation: buttons, keys; the view (camera, layers, selection, tool) as bookmarks and links.
  $('nav-home').onclick = () => navigation.home(1);
  $('nav-zoom-in').onclick = () => navigation.zoom(1);
  $('nav-zoom-out').onclick = () => navigation.zoom(-1);
  $('nav-compass').onclick = () => navigation.north();
  const KEYS = {
    h: () => navigation.home(1),
    n: () => navigation.north(),
    '+': () => navigation.zoom(1),
    '=': () => navigation.zoom(1),
    '-': () => navigation.zoom(-1),
    ArrowUp: () => navigation.pan(1, 0),
    ArrowDown: () => navigation.pan(-1, 0),
    ArrowLeft: () => navigation.pan(0, -1),
    ArrowRight: () => navigation.pan(0, 1),
    Escape: () => (tool ? stopTool() : closePanel()),
  };
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.target.closest?.('input, select, textarea, [contenteditable]')) return;
    const action = KEYS[e.key];
    if (!action) return;
    e.preventDefault();
    action();
  });
  const layerNames = () => (layers.registry?.layers ?? []).filter((l) => l.tiles || l.draped).map((l) => l.name);
  const currentView = () => ({
    camera: cameraState(viewer.camera),
    layers: layerNames().filter((name) => layers.isShown(name)),
    selection: picker.last,
    tool: tool?.name ?? null,
  });
  const applyView = async (view) => {
    setCamera(viewer.camera, view.camera);
    await layers.ready;
    await Promise.all(layerNames().map((name) => layers.setVisible(name, view.layers.includes(name))));
    stopTool();
    if (view.selection) await picker.showFeature(view.selection.layer, view.selection.id).catch(() => null);
    if (view.tool) startTool(view.tool);
  };
  cim.view = { current: currentView, apply: applyView };
  $('share').onclick = () => {
    const url = `${location.origin}${location.pathname}${viewToHash(currentView())}`;
    history.replaceState(null, '', url);
    $('share-url').value = url;
    $('share-url').select();
    navigator.clipboard?.writeText(url).then(() => status(t('share_copied')), () => null);
  };
  window.addEventListener('hashchange', () => {
    const view = hashToView(location.hash);
    if (view) applyView(view);
  });
  const listBookmarks = () => {
    $('bookmark-list').innerHTML = bookmarks
      .list()
      .map((b, i) => `<li><button class="go" data-index="${i}">${escape(b.name)}</button><button class="del" data-index="${i}" title="${escape(t('delete'))}">×</button></li>`)
      .join('');
  };
  $('bookmark-add').onclick = () => {
    const name = $('bookmark-name').value.trim() || new Date().toLocaleString();
    bookmarks.add(name, currentView());
    $('bookmark-name').value = '';
    listBookmarks();
  };
  $('bookmark-list').onclick = (e) => {
    const button = e.target.closest('button');
    if (!button) return;
    const mark = bookmarks.list()[Number(button.dataset.index)];
    if (button.classList.contains('del')) bookmarks.remove(mark.name);
    else applyView(mark.view);
    listBookmarks();
  };
  listBookmarks();
  // the view of a share link (resolves once it is applied: layers added, selection shown)
  cim.linked = linked ? layers.loadAll().then(() => applyView(linked)) : Promise.resolve();

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

  // Compare (swipe, side by side, BIM version diff) loads when its section is first opened.
  cim.compare = {};
  $('compare').addEventListener('toggle', async (e) => {
    if (!e.target.open || cim.compare.module) return;
    const { Compare } = await import('./compare.js');
    cim.compare.module = new Compare(viewer, layers, $('compare-body'), cim.compare);
    await cim.compare.module.start();
    cim.compare.ready = true;
  });

  // The 2D/3D switch: the 2D map's modules load the first time it is switched to.
  cim.map2d = { mode: '3d' };
  $('map-mode').onclick = async () => {
    const { toggle } = await import('./map2d.js');
    await toggle($('map-mode'), $('globe'), $('map2d'), cim.map2d);
  };

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
