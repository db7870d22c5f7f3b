// Compare (对比): two published versions of a BIM model or two thematic maps, by swipe (one view
// split by a draggable line: A on the left, B on the right) or side by side (a second view beside
// the first, the two cameras kept together); and a BIM version diff drawn in 3D from the API's diff
// (in the newer version added elements green, changed amber; removed ones of the older version red).
// Each side is a Layers of its own (the registry's styles, themes and highlights), so the page's
// layers stay as they were; the page's tilesets of the compared layers are hidden meanwhile.
// Loaded when its section is first opened.
import * as api from './api.js';
import { t, apply as applyLabels } from './i18n.js';
import { Layers } from './layers.js';
import { createViewer } from './scene.js';
import { escape, message } from './ui.js';

const { Cesium } = window;
const STYLES = new URL('../css/compare.css', import.meta.url).href;

// The diff's colours, in the order the legend lists them.
export const CHANGE_COLOURS = { added: '#43A047', changed: '#FFB300', removed: '#E53935' };
const KEY_STEP = 0.02; // the split line's move per arrow key, as a share of the view's width

const $ = (id) => document.getElementById(id);

/** Resolves on the first frame where each viewer's globe and the given tilesets have all their tiles
 * ([{viewer, tilesets}]), or once `gone()` says they are gone. */
function tilesDrawn(views, gone) {
  return Promise.all(
    views.map(
      ({ viewer, tilesets }) =>
        new Promise((resolve) => {
          const remove = viewer.scene.postRender.addEventListener(() => {
            if (gone() || (viewer.scene.globe.tilesLoaded && tilesets.every((ts) => ts.tilesLoaded))) {
              remove();
              resolve();
            }
          });
          viewer.scene.requestRender();
        }),
    ),
  );
}

/** The swipe's split line over a view: dragged (or moved with the arrow keys when it has the focus)
 * it sets the scene's split position, the share of the view's width left of it. */
class SplitLine {
  /** `labels`: {a, b} as HTML. */
  constructor(container, scene, labels) {
    this.scene = scene;
    this.container = container;
    this.el = document.createElement('div');
    this.el.id = 'compare-split';
    Object.assign(this.el, { tabIndex: 0, title: t('compare_drag') });
    this.el.setAttribute('role', 'slider');
    this.el.setAttribute('aria-valuemin', '0');
    this.el.setAttribute('aria-valuemax', '100');
    this.el.innerHTML = `<span class="handle"></span><span class="side a">${labels.a}</span><span class="side b">${labels.b}</span>`;
    applyLabels(this.el);
    this.el.addEventListener('pointerdown', (e) => {
      this.el.setPointerCapture(e.pointerId);
      e.preventDefault();
    });
    this.el.addEventListener('pointermove', (e) => {
      if (!this.el.hasPointerCapture(e.pointerId)) return;
      const box = this.container.getBoundingClientRect();
      this.set((e.clientX - box.left) / box.width);
    });
    this.el.addEventListener('keydown', (e) => {
      const step = { ArrowLeft: -KEY_STEP, ArrowRight: KEY_STEP }[e.key];
      if (step === undefined) return;
      e.preventDefault();
      e.stopPropagation(); // not the page's arrow keys, which pan the view
      this.set(this.scene.splitPosition + step);
    });
    container.append(this.el);
    this.set(0.5);
  }

  set(share) {
    const at = Math.min(1, Math.max(0, share));
    this.scene.splitPosition = at;
    this.el.style.left = `${at * 100}%`;
    this.el.setAttribute('aria-valuenow', String(Math.round(at * 100)));
  }

  remove() {
    this.el.remove();
  }
}

/** Keep two viewers' cameras together: the one last touched (or moved by the page's own buttons and
 * keys: the first) leads, and the other takes its camera before each frame. Returns the undo. */
function syncCameras(first, second) {
  let leader = first;
  const undo = [];
  for (const viewer of [first, second]) {
    const lead = () => {
      leader = viewer;
    };
    for (const kind of ['pointerdown', 'wheel']) {
      viewer.canvas.addEventListener(kind, lead, { passive: true });
      undo.push(() => viewer.canvas.removeEventListener(kind, lead));
    }
  }
  const keys = () => {
    leader = first;
  };
  document.addEventListener('keydown', keys);
  undo.push(() => document.removeEventListener('keydown', keys));
  const follow = (from, to) => () => {
    if (leader !== from) return;
    to.camera.setView({
      destination: from.camera.positionWC,
      orientation: { direction: from.camera.directionWC, up: from.camera.upWC },
    });
  };
  undo.push(first.scene.preRender.addEventListener(follow(first, second)));
  undo.push(second.scene.preRender.addEventListener(follow(second, first)));
  return () => undo.forEach((fn) => fn());
}

export class Compare {
  /** `state` (window.cim.compare) says what is shown: mode, the pair, the diff's counts. */
  constructor(viewer, layers, root, state) {
    this.viewer = viewer;
    this.layers = layers;
    this.root = root;
    this.state = state;
    this.models = []; // models with two published versions or more, each with its versions
    this.session = null; // what is shown: {mode, pair, sides: [{side, viewer, layers, tilesets}], undo: []}
    this.flownTo = null; // the model the view last flew to
  }

  async start() {
    this.root.innerHTML = `
      <div class="row"><select id="compare-subject">
        <option value="versions" data-i18n="compare_versions"></option>
        <option value="themes" data-i18n="compare_themes"></option>
      </select></div>
      <div id="compare-versions">
        <label><span data-i18n="bim_model"></span> <select id="compare-model"></select></label>
        <label>A <select id="compare-a"></select></label>
        <label>B <select id="compare-b"></select></label>
      </div>
      <div id="compare-themes" hidden>
        <label>A <select id="compare-theme-a"></select></label>
        <label>B <select id="compare-theme-b"></select></label>
      </div>
      <div class="row">
        <button id="compare-swipe" data-i18n="compare_swipe"></button>
        <button id="compare-side" data-i18n="compare_side"></button>
        <button id="compare-diff" data-i18n="compare_diff"></button>
        <button id="compare-end" data-i18n="compare_end"></button>
      </div>
      <div id="compare-legend"></div>`;
    const link = Object.assign(document.createElement('link'), { rel: 'stylesheet', href: STYLES });
    document.head.append(link);
    await Promise.all([this.listModels(), this.layers.ready]);
    const themes = this.layers.themes();
    // named with their layer: two layers may have a theme of one name (contractor grade)
    const options = themes.map((th) => `<option value="${escape(th.value)}">${escape(`${t(th.value.split(':')[0])} · ${t(th.key)}`)}</option>`).join('');
    $('compare-theme-a').innerHTML = options;
    $('compare-theme-b').innerHTML = options;
    if (themes.length > 1) $('compare-theme-b').value = themes[1].value;
    $('compare-model').innerHTML = this.models
      .map((m) => `<option value="${m.id}">${escape(m.name)} (${escape(m.project_code ?? '')})</option>`)
      .join('');
    $('compare-model').onchange = () => this.fillVersions();
    this.fillVersions();
    $('compare-subject').onchange = (e) => {
      $('compare-versions').hidden = e.target.value !== 'versions';
      $('compare-themes').hidden = e.target.value !== 'themes';
      $('compare-diff').disabled = e.target.value !== 'versions';
    };
    if (!this.models.length) {
      $('compare-subject').value = 'themes';
      $('compare-subject').onchange({ target: $('compare-subject') });
    }
    for (const mode of ['swipe', 'side', 'diff']) $(`compare-${mode}`).onclick = () => this.show(mode).catch((exc) => message(`${t('compare')}: ${exc.message ?? exc}`));
    $('compare-end').onclick = () => this.end();
    applyLabels(this.root);
  }

  /** The models with two published versions or more (only those asked for their versions). */
  async listModels() {
    const { models } = await api.request('bim/models');
    const several = models.filter((m) => m.latest?.version_no > 1);
    const full = await Promise.all(several.map((m) => api.request(`bim/models/${m.id}`)));
    this.models = full.map((m) => ({ ...m, versions: m.versions.filter((v) => v.tileset) })).filter((m) => m.versions.length > 1);
  }

  /** The chosen model's published versions in both choosers: A the one before the newest, B the newest. */
  fillVersions() {
    const model = this.models.find((m) => String(m.id) === $('compare-model').value);
    const options = (model?.versions ?? [])
      .map((v) => `<option value="${v.version_no}">v${v.version_no} · ${escape(v.created_at.slice(0, 16).replace('T', ' '))}</option>`)
      .join('');
    $('compare-a').innerHTML = options;
    $('compare-b').innerHTML = options;
    const versions = model?.versions ?? [];
    if (versions.length > 1) {
      $('compare-a').value = String(versions.at(-2).version_no);
      $('compare-b').value = String(versions.at(-1).version_no);
    }
  }

  /** What the choosers name: {kind: 'versions', model, a, b} (versions) or {kind: 'themes', a, b} ('layer:theme'). */
  pair() {
    if ($('compare-subject').value === 'themes') return { kind: 'themes', a: $('compare-theme-a').value, b: $('compare-theme-b').value };
    const model = this.models.find((m) => String(m.id) === $('compare-model').value);
    if (!model) throw new Error(t('compare_no_versions'));
    const version = (select) => model.versions.find((v) => String(v.version_no) === select.value);
    return { kind: 'versions', model, a: version($('compare-a')), b: version($('compare-b')) };
  }

  /** A side's label (HTML) on the split line and in the legend: the version or the theme. */
  static label(pair, side) {
    const what = pair.kind === 'versions' ? `v${pair[side].version_no}` : `<span data-i18n="${escape(`theme.${pair[side].replace(':', '.')}`)}"></span>`;
    return `${side.toUpperCase()} · ${what}`;
  }

  /** Load one side into a Layers of its own on `viewer`: the version's tileset, or the theme's layer
   * coloured by the theme. Resolves to {side, viewer, layers, tilesets, name, legend}. */
  async loadSide(viewer, pair, side) {
    const layers = new Layers(viewer);
    await layers.ready;
    if (viewer !== this.viewer) {
      // a view of its own: the ground as the page's, with the polygons the page has draped
      const { styles, polygons, counts, rectangle, hidden } = this.layers.drapes;
      Object.assign(layers.drapes, { styles, polygons, counts, rectangle, hidden: new Set(hidden) });
      layers.drapes.redraw();
    }
    if (pair.kind === 'versions') {
      const name = `bim-${pair[side].version_id}`;
      const tileset = await layers.loadTileset(name);
      if (!tileset) throw new Error(`${name}: ${t('error')}`);
      return { side, viewer, layers, tilesets: [tileset], name, legend: null };
    }
    const [name] = pair[side].split(':');
    const legend = await layers.setTheme(pair[side]); // before the tileset: its first style has the colours
    const tileset = await layers.loadTileset(name);
    if (!tileset) throw new Error(`${name}: ${t('error')}`);
    return { side, viewer, layers, tilesets: [tileset], name, legend };
  }

  /** Hide the page's tilesets the pair draws again (the city's BIM layer for versions); returns the undo. */
  hidePageTilesets(pair) {
    const names = pair.kind === 'versions' ? Object.keys(this.layers.tilesets).filter((n) => this.layers.entryOf(n)?.name === 'bim_elements') : [pair.a, pair.b].map((c) => c.split(':')[0]);
    const hidden = [...new Set(names)].map((n) => this.layers.tilesets[n]).filter((ts) => ts?.show);
    for (const ts of hidden) ts.show = false;
    return () => hidden.forEach((ts) => (ts.show = true));
  }

  /** Show the pair in a mode: 'swipe', 'side' (side by side) or 'diff' (versions only). */
  async show(mode) {
    this.end();
    const pair = this.pair();
    if (mode === 'diff' && pair.kind !== 'versions') throw new Error(t('compare_no_versions'));
    const session = { mode, pair, sides: [], undo: [] };
    this.session = session;
    session.undo.push(this.hidePageTilesets(pair));
    let second = this.viewer;
    if (mode === 'side') second = this.openPane(session);
    const remove = (side) => !side.viewer.isDestroyed() && side.tilesets.forEach((ts) => side.viewer.scene.primitives.remove(ts));
    const load = (viewer, side) =>
      this.loadSide(viewer, pair, side).then((loaded) => {
        if (this.session === session) session.sides.push(loaded);
        else remove(loaded); // ended (or another started) meanwhile: it goes too
        return loaded;
      });
    let a;
    let b;
    try {
      [a, b] = await Promise.all([load(this.viewer, 'a'), load(second, 'b')]);
    } catch (exc) {
      if (this.session === session) this.end();
      throw exc;
    }
    if (this.session !== session) return;
    if (mode === 'swipe') {
      a.tilesets.forEach((ts) => (ts.splitDirection = Cesium.SplitDirection.LEFT));
      b.tilesets.forEach((ts) => (ts.splitDirection = Cesium.SplitDirection.RIGHT));
      const line = new SplitLine($('globe'), this.viewer.scene, { a: Compare.label(pair, 'a'), b: Compare.label(pair, 'b') });
      session.undo.push(() => line.remove());
    }
    if (mode === 'side') session.undo.push(syncCameras(this.viewer, second));
    let counts = null;
    if (mode === 'diff') counts = await this.colourDiff(pair, a, b);
    this.legend(pair, mode, counts, [a, b]);
    if (pair.kind === 'versions' && this.flownTo !== pair.model.id) {
      // to the model, the first time it is compared (the view stays as it is between modes)
      this.flownTo = pair.model.id;
      await this.viewer.flyTo(b.tilesets[0], { duration: 1, offset: new Cesium.HeadingPitchRange(0.5, -0.6, 0) });
    }
    await tilesDrawn(session.sides, () => this.session !== session);
    if (this.session !== session) return;
    Object.assign(this.state, { mode, subject: pair.kind, a: this.ids(pair, 'a'), b: this.ids(pair, 'b'), counts, shown: (this.state.shown ?? 0) + 1 });
  }

  ids(pair, side) {
    return pair.kind === 'versions' ? { model_id: pair.model.id, version_no: pair[side].version_no } : { theme: pair[side] };
  }

  /** The second view, beside the page's: the same ground, the camera kept with the first's. */
  openPane(session) {
    const pane = document.createElement('div');
    pane.id = 'compare-pane';
    $('globe').after(pane);
    document.body.classList.add('compare-side');
    const { viewer } = createViewer(pane);
    session.pane = viewer;
    session.undo.push(() => {
      viewer.destroy();
      pane.remove();
      document.body.classList.remove('compare-side');
    });
    return viewer;
  }

  /** Colour the diff from `a` to `b`: in b added green and changed amber, of a only the removed, red.
   * Returns the counts. */
  async colourDiff(pair, a, b) {
    const diff = await api.request(`bim/models/${pair.model.id}/diff?from=${pair.a.version_no}&to=${pair.b.version_no}`);
    const changed = diff.changed.map((c) => c.global_id);
    const colours = (ids, css) => Object.fromEntries(ids.map((id) => [id, css]));
    b.layers.highlightLayer(b.name, { ...colours(diff.added, CHANGE_COLOURS.added), ...colours(changed, CHANGE_COLOURS.changed) });
    a.layers.showIds(a.name, diff.removed);
    a.layers.highlightLayer(a.name, colours(diff.removed, CHANGE_COLOURS.removed));
    // the colours as they are, not multiplied by the tiles' own materials
    for (const ts of [...a.tilesets, ...b.tilesets]) ts.colorBlendMode = Cesium.Cesium3DTileColorBlendMode.REPLACE;
    return { added: diff.added.length, changed: changed.length, removed: diff.removed.length };
  }

  /** The legend: what each side shows, and for a diff the colours with their counts. */
  legend(pair, mode, counts, sides) {
    const labels = ['a', 'b'].map((s) => `<li>${Compare.label(pair, s)}</li>`).join('');
    const swatches = counts
      ? Object.entries(CHANGE_COLOURS)
          .map(([change, colour]) => `<li data-change="${change}"><span class="swatch" style="background:${colour}"></span><span data-i18n="diff_${change}"></span> <b class="count">${counts[change]}</b></li>`)
          .join('')
      : '';
    const themes = mode !== 'diff' && pair.kind === 'themes' ? sides.map((s) => `<h4>${escape(s.legend?.title ?? '')}</h4><ul>${(s.legend?.items ?? []).map((i) => `<li><span class="swatch" style="background:${escape(i.color)}"></span>${escape(i.label)}</li>`).join('')}</ul>`).join('') : '';
    $('compare-legend').innerHTML = `<h4 data-i18n="compare_${mode}"></h4><ul>${labels}</ul>${swatches ? `<ul id="compare-diff-legend">${swatches}</ul>` : ''}${themes}`;
    applyLabels($('compare-legend'));
  }

  /** End the comparison: its tilesets, split line and second view go; the page's tilesets show again. */
  end() {
    const session = this.session;
    this.session = null;
    if (!session) return;
    for (const side of session.sides) {
      for (const ts of side.tilesets) side.viewer.scene.primitives.remove(ts);
    }
    session.undo.reverse().forEach((fn) => fn());
    this.viewer.scene.splitPosition = 0.5;
    $('compare-legend').innerHTML = '';
    Object.assign(this.state, { mode: null, counts: null });
  }
}
