// Cutting: a section plane through the city's and the BIM models' tilesets (horizontal at a height
// or vertical across the view, moved with a slider); an excavation pit that clips the ground and the
// tilesets above it to its polygon, shows the pipes and tunnels inside in x-ray and lists what the
// excavation analysis finds there beside it.
import * as api from './api.js';
import { t } from './i18n.js';
import { escape, panel } from './ui.js';
import { ringArea } from './tools.js';

const { Cesium } = window;
const $ = (id) => document.getElementById(id);
const EDGE = Cesium.Color.RED;
const PIT_WALL = Cesium.Color.fromCssColorString('#a0785a').withAlpha(0.35);
const PIT_EDGE = Cesium.Color.fromCssColorString('#ffb74d');
const HIT = '#00e5ff'; // pipes and tunnel compartments the dig reaches

/** The east-north-up frame at lon/lat (radians) and ellipsoidal height h. */
const enuAt = (lon, lat, h) => Cesium.Transforms.eastNorthUpToFixedFrame(Cesium.Cartesian3.fromRadians(lon, lat, h));

/** A section plane through every tileset: `horizontal` keeps what lies below an ellipsoidal height,
 * `vertical` keeps what lies beyond a vertical plane facing a heading. Each tileset holds one
 * clipping plane, made once; moving the cut moves its frame only (no shader is rebuilt). */
export class Section {
  constructor(viewer, layers) {
    Object.assign(this, { viewer, layers, cut: null });
  }

  /** Cut (null: none): {mode: 'horizontal', h} or {mode: 'vertical', lon, lat, h, heading, offset}
   * (radians, metres: the plane passes `offset` m beyond lon/lat along the heading). */
  set(cut) {
    this.cut = cut;
    for (const tileset of Object.values(this.layers.tilesets)) this.apply(tileset);
  }

  /** The cut's height (ellipsoidal) for a horizontal cut, else null (the tests read it). */
  get height() {
    return this.cut?.mode === 'horizontal' ? this.cut.h : null;
  }

  /** The plane's frame (world) and normal in it for a tileset. */
  plane(tileset) {
    const { cut } = this;
    if (cut.mode === 'horizontal') {
      const centre = Cesium.Cartographic.fromCartesian(tileset.boundingSphere.center);
      return { frame: enuAt(centre.longitude, centre.latitude, cut.h), normal: new Cesium.Cartesian3(0, 0, -1) };
    }
    const normal = new Cesium.Cartesian3(Math.sin(cut.heading), Math.cos(cut.heading), 0);
    const frame = enuAt(cut.lon, cut.lat, cut.h);
    const along = Cesium.Matrix4.multiplyByPointAsVector(frame, Cesium.Cartesian3.multiplyByScalar(normal, cut.offset, new Cesium.Cartesian3()), new Cesium.Cartesian3());
    Cesium.Matrix4.setTranslation(frame, Cesium.Cartesian3.add(Cesium.Matrix4.getTranslation(frame, new Cesium.Cartesian3()), along, new Cesium.Cartesian3()), frame);
    return { frame, normal };
  }

  apply(tileset) {
    if (!this.cut) {
      if (tileset.clippingPlanes) tileset.clippingPlanes.enabled = false;
      return;
    }
    const { frame, normal } = this.plane(tileset);
    const toTileset = Cesium.Matrix4.inverse(tileset.clippingPlanesOriginMatrix, new Cesium.Matrix4());
    const modelMatrix = Cesium.Matrix4.multiply(toTileset, frame, new Cesium.Matrix4());
    if (!tileset.clippingPlanes) {
      tileset.clippingPlanes = new Cesium.ClippingPlaneCollection({ planes: [new Cesium.ClippingPlane(normal, 0)], edgeWidth: 2, edgeColor: EDGE });
    }
    const planes = tileset.clippingPlanes;
    planes.modelMatrix = modelMatrix;
    planes.get(0).normal = normal;
    planes.enabled = true;
  }
}

/** Wire the section controls (#section-on, #section-mode, #section-height, #section-label): the
 * slider is the height above the city's lowest ground (`ground0`, ellipsoidal) for a horizontal
 * cut, the distance beyond the view's centre for a vertical one. */
export function wireSection(viewer, layers, ground0) {
  const section = new Section(viewer, layers);
  const slider = $('section-height');
  const RANGES = { horizontal: [0, 150, 10], vertical: [-200, 200, 0] };
  let across = null; // the vertical cut's point and heading: what the view's centre shows when chosen
  const centre = () => {
    const { scene, camera } = viewer;
    const middle = new Cesium.Cartesian2(scene.canvas.clientWidth / 2, scene.canvas.clientHeight / 2);
    const point =
      (scene.pickPositionSupported && scene.pickPosition(middle)) ||
      scene.globe.pick(camera.getPickRay(middle), scene) ||
      Cesium.Cartesian3.fromRadians(camera.positionCartographic.longitude, camera.positionCartographic.latitude, ground0);
    const c = Cesium.Cartographic.fromCartesian(point);
    return { lon: c.longitude, lat: c.latitude, h: c.height, heading: camera.heading };
  };
  const cut = () => {
    const mode = $('section-mode').value;
    const value = Number(slider.value);
    $('section-label').textContent = mode === 'horizontal' ? `${t('section_above_ground')} ${value} m` : `${t('section_offset')} ${value} m`;
    if (!$('section-on').checked) return section.set(null);
    if (mode === 'horizontal') return section.set({ mode, h: ground0 + value });
    across ??= centre();
    return section.set({ mode, ...across, offset: value });
  };
  $('section-mode').onchange = () => {
    const [min, max, value] = RANGES[$('section-mode').value];
    Object.assign(slider, { min, max, value });
    across = null;
    cut();
  };
  $('section-on').onchange = () => {
    across = null;
    cut();
  };
  slider.oninput = cut;
  return section;
}

/** A number with `digits` decimals as a cell that keeps its value for machines (data-value). */
const figure = (value, digits, unit = '') =>
  value === null || value === undefined ? '<td>—</td>' : `<td data-value="${escape(value)}">${escape(Number(value).toFixed(digits))}${unit}</td>`;

/** An excavation pit: the ground and the city's tilesets above it clipped to its polygon (its walls
 * drawn down to the dig's depth), the ground around translucent, the pipes and tunnel compartments
 * the dig reaches highlighted; the analysis in the side panel. Stays until cleared. */
export class Excavation {
  constructor(viewer, layers) {
    Object.assign(this, { viewer, layers, entities: [], ring: null, answer: null });
  }

  clear() {
    for (const e of this.entities) this.viewer.entities.remove(e);
    this.entities = [];
    this.ring = null;
    this.answer = null;
    this.viewer.scene.globe.clippingPolygons = undefined;
    for (const tileset of Object.values(this.layers.tilesets)) {
      if (tileset.clippingPolygons) tileset.clippingPolygons = undefined;
      tileset.colorBlendMode = Cesium.Cesium3DTileColorBlendMode.HIGHLIGHT;
    }
    this.layers.clearHighlights();
  }

  /** A fresh collection of the pit's polygon (a collection belongs to one globe or tileset). */
  polygons() {
    const positions = this.ring.map(([lon, lat]) => Cesium.Cartesian3.fromDegrees(lon, lat));
    return new Cesium.ClippingPolygonCollection({ polygons: [new Cesium.ClippingPolygon({ positions })] });
  }

  /** Clip a tileset of the city above the ground; the pipes and tunnels are not clipped but show
   * in the pit in x-ray: the colour of those reached mixed over their own (the tiles' colours would
   * multiply a highlight: cyan over a red pipe is black). */
  apply(tileset) {
    if (!this.ring) return;
    if (this.layers.entryOf(tileset.layerName ?? '')?.underground) {
      tileset.colorBlendMode = Cesium.Cesium3DTileColorBlendMode.MIX;
      tileset.colorBlendAmount = 0.85;
    } else tileset.clippingPolygons = this.polygons();
  }

  /** Dig `depth_m` inside a ring of lon/lat (open: its first point not repeated). Resolves to the
   * analysis' answer. */
  async dig(ring, depth_m) {
    this.clear();
    this.ring = ring;
    const { globe } = this.viewer.scene;
    const tops = ring.map(([lon, lat]) => globe.getHeight(Cesium.Cartographic.fromDegrees(lon, lat)) ?? 0);
    globe.clippingPolygons = this.polygons();
    for (const tileset of Object.values(this.layers.tilesets)) this.apply(tileset);
    const closed = [...ring, ring[0]];
    const top = [...tops, tops[0]];
    this.entities.push(
      this.viewer.entities.add({
        wall: {
          positions: Cesium.Cartesian3.fromDegreesArray(closed.flat()),
          minimumHeights: top.map((h) => h - depth_m),
          maximumHeights: top,
          material: PIT_WALL,
          outline: true,
          outlineColor: PIT_EDGE,
        },
      }),
      this.viewer.entities.add({
        polyline: { positions: closed.map(([lon, lat], i) => Cesium.Cartesian3.fromDegrees(lon, lat, top[i])), width: 2, material: PIT_EDGE, depthFailMaterial: PIT_EDGE },
      }),
    );
    const answer = await api.excavation({ type: 'Polygon', coordinates: [closed] }, depth_m);
    this.answer = answer;
    const compartments = answer.tunnels.flatMap((u) => (u.compartments ?? []).map((c) => c.id));
    const colour = (ids) => Object.fromEntries(ids.map((id) => [id, HIT]));
    await this.layers.highlight({ pipelines: colour(answer.pipes.map((p) => p.id)), tunnel_compartments: colour(compartments) });
    this.show(answer, ringArea(ring));
    return answer;
  }

  /** The analysis beside the pit: its figures, the pipes and tunnels hit, the owners to notify. */
  show(answer, area) {
    const length = answer.pipes.reduce((sum, p) => sum + (p.length_in_area_m ?? 0), 0);
    const row = (key, cell) => `<tr data-key="${escape(key)}"><th>${escape(t(key))}</th>${cell}</tr>`;
    const figures = [
      row('dig_depth', figure(answer.depth_m, 1, ' m')),
      row('pit_area', figure(area, 1, ' m²')),
      row('pipes_hit', figure(answer.pipes.length, 0)),
      row('pipe_length_in_pit', figure(length, 2, ' m')),
      row('tunnels_hit', figure(answer.tunnels.length, 0)),
    ].join('');
    const head = (keys) => `<tr>${keys.map((k) => `<th>${escape(t(k))}</th>`).join('')}</tr>`;
    const pipes = answer.pipes
      .map((p) => `<tr data-id="${escape(p.id)}"><td>${escape(p.id)}</td><td>${escape(t(`utilities.${p.utility}`))}</td>${figure(p.top_depth_m, 2)}${figure(p.length_in_area_m, 2)}<td>${escape(p.owner ?? '—')}</td></tr>`)
      .join('');
    const tunnels = answer.tunnels
      .map((u) => `<tr data-id="${escape(u.id)}"><td>${escape(u.name ?? u.id)}</td>${figure(u.cover_depth_m, 2)}<td>${escape(u.owner ?? '—')}</td></tr>`)
      .join('');
    panel(
      t('excavation'),
      `<table id="excavation-figures" class="figures">${figures}</table>` +
        `<h3>${escape(t('pipes_hit'))}</h3><table id="excavation-pipes">${head(['pipe_id', 'utility', 'top_depth_m', 'length_in_pit_m', 'owner'])}${pipes}</table>` +
        `<h3>${escape(t('tunnels_hit'))}</h3><table id="excavation-tunnels">${head(['name', 'cover_depth_m', 'owner'])}${tunnels}</table>` +
        `<h3>${escape(t('owners_to_notify'))}</h3><ul id="excavation-owners">${answer.owners_to_notify.map((o) => `<li>${escape(o)}</li>`).join('')}</ul>`,
    );
  }
}
