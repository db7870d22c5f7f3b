// Map tools: draw a polygon for area statistics, place an incident, a profile along a line;
// measure distance, area, height and the depth of a pipe below the ground (cutting: cut.js).
import * as api from './api.js';
import { t } from './i18n.js';
import { panel, render, escape, status, loadScript } from './ui.js';

const { Cesium } = window;
const AFFECTED = '#ff8c00';
const VALVE = '#ff1744';
const BURST = '#d500f9'; // the burst pipe, apart from the pipes it takes with it
const PICKED = '#ffff00';

/** A sketch of clicked points (polyline while drawing); `finish` is called on double-click. */
export class Sketch {
  constructor(viewer, { closed, onFinish }) {
    this.viewer = viewer;
    this.closed = closed;
    this.onFinish = onFinish;
    this.points = [];
    this.entity = viewer.entities.add({
      polyline: {
        positions: new Cesium.CallbackProperty(() => this.positions(), false),
        width: 3,
        clampToGround: true,
        material: Cesium.Color.CYAN,
      },
    });
  }

  positions() {
    const ring = this.closed && this.points.length > 2 ? [...this.points, this.points[0]] : this.points;
    return ring.map(([lon, lat]) => Cesium.Cartesian3.fromDegrees(lon, lat));
  }

  add(ground) {
    const last = this.points.at(-1);
    if (last && last[0] === ground.lon && last[1] === ground.lat) return; // the 2nd click of a double-click
    this.points.push([ground.lon, ground.lat]);
  }

  finish() {
    const enough = this.points.length >= (this.closed ? 3 : 2);
    const points = this.points;
    if (!enough) return false;
    this.done = true; // a finished drawing stays (with its result) until cleared
    this.onFinish(points);
    return true;
  }

  remove() {
    this.viewer.entities.remove(this.entity);
  }
}

/** The features an incident answer names, per tileset layer. */
export function affectedIds(answer) {
  const isolation = answer.isolation ?? {};
  return {
    buildings: [...(answer.buildings ?? []), ...(isolation.buildings_losing_supply ?? [])].map((b) => b.code),
    pipelines: [...Object.values(answer.pipes_by_utility ?? {}).flatMap((u) => u.ids), ...(isolation.isolated_pipes ?? [])],
    tunnel_compartments: (answer.tunnel_compartments ?? []).map((c) => c.id),
  };
}

/** Centre (lon, lat) of a GeoJSON geometry: inside a polygon when the vertex mean is not. */
export function centreOf(geometry) {
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

/** A point in the middle of a GeoJSON line (or the point itself). */
function midpoint(geometry) {
  const coords = geometry.type === 'Point' ? [geometry.coordinates] : geometry.coordinates;
  return coords[Math.floor((coords.length - 1) / 2)].slice(0, 2);
}

/** Incidents: the zone drawn, affected features highlighted and listed, valves to close marked. */
export class Incidents {
  constructor(viewer, layers) {
    this.viewer = viewer;
    this.layers = layers;
    this.entities = [];
  }

  clear() {
    for (const e of this.entities) this.viewer.entities.remove(e);
    this.entities = [];
    this.layers.clearHighlights();
  }

  /** Run an incident at a location (GeoJSON point), or for a pipe burst on a pipe id (located at its middle). */
  async run({ pipe_id, location, ...params }) {
    this.clear();
    if (!location) {
      const pipe = await api.collectionItem('pipelines', pipe_id);
      location = { type: 'Point', coordinates: midpoint(pipe.geometry) };
    }
    const answer = await api.incident({ ...params, location, pipe_id: pipe_id || undefined });
    const valves = answer.isolation?.valves_to_close ?? [];
    const affected = affectedIds(answer);
    const colourAll = (ids, colour) => Object.fromEntries(ids.map((id) => [id, colour]));
    this.colours = {
      buildings: colourAll(affected.buildings, AFFECTED),
      pipelines: { ...colourAll(affected.pipelines, AFFECTED), ...(pipe_id ? { [pipe_id]: BURST } : {}) },
      tunnel_compartments: colourAll(affected.tunnel_compartments, AFFECTED),
      pipe_nodes: colourAll(valves, VALVE),
    };
    await this.layers.highlight(this.colours);
    this.drawZone(answer.zone);
    this.flyToZone(answer.zone);
    await Promise.all(valves.map((id) => this.markValve(id)));
    const row = (layer, id, text = id) => `<li><button class="goto" data-layer="${escape(layer)}" data-id="${escape(id)}"${layer === 'pipe_nodes' ? ` data-valve="${escape(id)}"` : ''}>${escape(text)}</button></li>`;
    const buildings = [...new Set(affected.buildings)];
    const burst = pipe_id ? `<p class="burst">${escape(t('burst_pipe'))}: ${row('pipelines', pipe_id).replace(/<\/?li>/g, '')}</p>` : '';
    const counts = Object.entries(affected).map(([layer, ids]) => `<li>${escape(t(layer))}: ${new Set(ids).size}</li>`).join('');
    panel(
      `${t('incident')}: ${t(params.type)}`,
      burst +
        `<h3>${escape(t('valves_to_close'))} (${valves.length})</h3><ul id="valves" class="goto-list">${valves.map((id) => row('pipe_nodes', id)).join('')}</ul>` +
        `<h3>${escape(t('affected_buildings'))} (${buildings.length})</h3><ul id="affected-buildings" class="goto-list">${buildings.map((id) => row('buildings', id)).join('')}</ul>` +
        `<h3>${escape(t('affected'))}</h3><ul>${counts}</ul>` +
        `<details><summary>${escape(t('details'))}</summary>${render({ ...answer, zone: undefined })}</details>`,
    );
    document.getElementById('panel-body').onclick = (e) => {
      const button = e.target.closest('button.goto');
      if (button) this.goTo(button.dataset.layer, button.dataset.id).catch(() => null);
    };
    return answer;
  }

  /** Fly to a feature of the result (straight down, close) and pick it out in yellow among the
   * result's colours. Resolves once the camera is there. */
  async goTo(layer, id) {
    const feature = await api.collectionItem(layer, id);
    const [lon, lat] = centreOf(feature.geometry);
    const ground = this.viewer.scene.globe.getHeight(Cesium.Cartographic.fromDegrees(lon, lat)) ?? 0;
    const above = (feature.properties?.height_m ?? 0) + 120;
    this.layers.highlightLayer(layer, { ...(this.colours?.[layer] ?? {}), [id]: PICKED });
    this.focused = { layer, id };
    await new Promise((resolve) => {
      this.viewer.camera.flyTo({
        destination: Cesium.Cartesian3.fromDegrees(lon, lat, ground + above),
        orientation: { heading: 0, pitch: -Cesium.Math.PI_OVER_TWO, roll: 0 },
        duration: 0.8,
        complete: resolve,
        cancel: resolve,
      });
    });
    return this.focused;
  }

  drawZone(zone) {
    if (zone?.type !== 'Polygon') return;
    this.entities.push(
      this.viewer.entities.add({
        polygon: {
          hierarchy: Cesium.Cartesian3.fromDegreesArray(zone.coordinates[0].flatMap((c) => c.slice(0, 2))),
          material: Cesium.Color.fromCssColorString(AFFECTED).withAlpha(0.2),
          classificationType: Cesium.ClassificationType.TERRAIN,
        },
      }),
    );
  }

  /** Look down on the whole zone (at once: the list and the marks show in the same view). */
  flyToZone(zone) {
    if (zone?.type !== 'Polygon') return;
    const ground = this.viewer.scene.globe.ellipsoid;
    const points = zone.coordinates[0].map(([lon, lat]) => Cesium.Cartesian3.fromDegrees(lon, lat, 0, ground));
    const sphere = Cesium.BoundingSphere.fromPoints(points);
    this.viewer.camera.flyToBoundingSphere(sphere, { duration: 0, offset: new Cesium.HeadingPitchRange(0, -1.2, sphere.radius * 2.2) });
  }

  async markValve(id) {
    const node = await api.collectionItem('pipe_nodes', id);
    const [lon, lat] = node.geometry.coordinates;
    const clamp = Cesium.HeightReference.CLAMP_TO_GROUND;
    const onTop = Number.POSITIVE_INFINITY;
    this.entities.push(
      this.viewer.entities.add({
        position: Cesium.Cartesian3.fromDegrees(lon, lat),
        point: { pixelSize: 12, color: Cesium.Color.fromCssColorString(VALVE), outlineColor: Cesium.Color.WHITE, outlineWidth: 2, heightReference: clamp, disableDepthTestDistance: onTop },
        label: { text: id, font: '12px sans-serif', pixelOffset: new Cesium.Cartesian2(0, -18), heightReference: clamp, disableDepthTestDistance: onTop },
      }),
    );
  }
}

/** Statistics inside a drawn polygon (CRS84 GeoJSON). */
export async function areaStatistics(points) {
  const ring = [...points, points[0]];
  const answer = await api.within({ type: 'Polygon', coordinates: [ring] });
  panel(t('statistics'), render(answer));
  return answer;
}

/** A profile along a line: ground, pipes and tunnels against distance in a chart with axes (ECharts,
 * vendored), the numbers below it. Resolves to the answer; `window.cim.profileChart` is the chart. */
export async function profileAlong(points) {
  const [answer, registry] = await Promise.all([api.profile(points), api.layerRegistry(), loadScript('/vendor/echarts/echarts.min.js')]);
  panel(t('profile'), `<div id="profile-chart" class="profile-chart"></div>${render({ ...answer, ground: undefined })}`);
  const colours = Object.fromEntries((registry.vocabularies.utilities?.entries ?? []).map((e) => [e.code, e.color]));
  const chart = window.echarts.init(document.getElementById('profile-chart'), null, { renderer: 'svg' });
  chart.setOption(profileOption(answer, colours));
  window.cim.profileChart = chart;
  window.cim.lastProfile = answer;
  return answer;
}

/** The chart: the ground as a filled line, each pipe a circle of its diameter (to the axes' scales),
 * each tunnel a box from floor to top, heights orthometric. */
function profileOption(answer, colours) {
  const ground = answer.ground.filter((s) => s.ground_h_orthometric !== null).map((s) => [s.station_m, s.ground_h_orthometric]);
  const pipes = answer.pipes.map((p) => ({ value: [p.station_m, p.axis_z, (p.diameter_mm ?? 100) / 1000], id: p.id, utility: p.utility, depth: p.top_depth_m }));
  const tunnels = answer.tunnels.map((c) => ({ value: [c.station_m, c.floor_z, c.top_z, c.width_m ?? 2], id: c.id, name: c.name }));
  const heights = [...ground.map((g) => g[1]), ...pipes.map((p) => p.value[1]), ...tunnels.flatMap((c) => [c.value[1], c.value[2]])];
  const [low, high] = [Math.floor(Math.min(...heights) - 1), Math.ceil(Math.max(...heights) + 1)];
  const label = (p) => `${p.data.id} · ${t(`utilities.${p.data.utility}`)}${p.data.depth !== undefined && p.data.depth !== null ? ` · ${t('top_depth')} ${p.data.depth} m` : ''}`;
  return {
    animation: false,
    grid: { left: 52, right: 16, top: 28, bottom: 44 },
    tooltip: { trigger: 'item', formatter: (p) => (p.seriesId === 'ground' ? `${p.value[0].toFixed(1)} m · ${p.value[1].toFixed(2)} m` : p.seriesId === 'pipes' ? label(p) : `${p.data.name ?? p.data.id}`) },
    legend: { top: 0, textStyle: { color: '#cfd8dc' } },
    xAxis: { type: 'value', name: t('station_m'), nameLocation: 'middle', nameGap: 26, min: 0, max: Math.ceil(Math.max(...ground.map((g) => g[0]), 1)), axisLabel: { color: '#cfd8dc' }, nameTextStyle: { color: '#cfd8dc' } },
    yAxis: { type: 'value', name: t('height_orthometric_m'), nameLocation: 'middle', nameGap: 38, min: low, max: high, axisLabel: { color: '#cfd8dc' }, nameTextStyle: { color: '#cfd8dc' }, splitLine: { lineStyle: { color: '#2d3b4d' } } },
    series: [
      { id: 'ground', name: t('ground'), type: 'line', data: ground, showSymbol: false, lineStyle: { color: '#c8b46a', width: 2 }, areaStyle: { color: '#6d5a3a', opacity: 0.35, origin: 'start' } },
      {
        id: 'pipes',
        name: t('pipelines'),
        type: 'custom',
        data: pipes,
        itemStyle: { color: '#9fd0ff' },
        renderItem: (params, api) => {
          const [x, y] = api.coord([api.value(0), api.value(1)]);
          const [w, h] = api.size([api.value(2), api.value(2)]);
          const colour = colours[pipes[params.dataIndex].utility] ?? '#9fd0ff';
          // at least 3 px across, so a 100 mm pipe on a 300 m line still shows
          return { type: 'ellipse', shape: { cx: x, cy: y, rx: Math.max(w / 2, 3), ry: Math.max(h / 2, 3) }, style: { fill: colour, stroke: '#fff', lineWidth: 0.5 } };
        },
      },
      {
        id: 'tunnels',
        name: t('tunnel_compartments'),
        type: 'custom',
        data: tunnels,
        renderItem: (params, api) => {
          const [x0, yTop] = api.coord([api.value(0) - api.value(3) / 2, api.value(2)]);
          const [x1, yFloor] = api.coord([api.value(0) + api.value(3) / 2, api.value(1)]);
          return { type: 'rect', shape: { x: x0, y: yTop, width: Math.max(x1 - x0, 3), height: yFloor - yTop }, style: { fill: '#7e57c2aa', stroke: '#b39ddb' } };
        },
      },
    ],
  };
}

export function hint(key) {
  status(t(key));
}

const MEASURE = Cesium.Color.fromCssColorString('#ffd54f');
const onTop = Number.POSITIVE_INFINITY;
const cartesian = ([lon, lat, h]) => Cesium.Cartesian3.fromDegrees(lon, lat, h);

/** Length on the ellipsoid (WGS84; CGCS2000's differs by 0.1 mm in the flattening) between two lon/lat. */
export function geodesicDistance(a, b) {
  return new Cesium.EllipsoidGeodesic(Cesium.Cartographic.fromDegrees(a[0], a[1]), Cesium.Cartographic.fromDegrees(b[0], b[1])).surfaceDistance;
}

/** Area (m²) of a lon/lat ring in the plane tangent to the ellipsoid at its first vertex (city scale:
 * the tangent plane's error is far below a thousandth). */
export function ringArea(points) {
  const frame = Cesium.Matrix4.inverse(Cesium.Transforms.eastNorthUpToFixedFrame(Cesium.Cartesian3.fromDegrees(points[0][0], points[0][1])), new Cesium.Matrix4());
  const xy = points.map(([lon, lat]) => Cesium.Matrix4.multiplyByPoint(frame, Cesium.Cartesian3.fromDegrees(lon, lat), new Cesium.Cartesian3()));
  let twice = 0;
  for (let i = 0; i < xy.length; i += 1) {
    const [p, q] = [xy[i], xy[(i + 1) % xy.length]];
    twice += p.x * q.y - q.x * p.y;
  }
  return Math.abs(twice) / 2;
}

const metres = (m) => (m >= 1000 ? `${(m / 1000).toFixed(3)} km` : `${m.toFixed(2)} m`);

/** A measurement by clicks (the sketch interface: add, finish, remove): `distance` along a line,
 * `area` of a polygon, `height` between two points; its marks and result stay until cleared. */
export class Measure {
  constructor(viewer, mode, onResult = () => null) {
    Object.assign(this, { viewer, mode, onResult, points: [], entities: [], done: false });
    this.closed = mode === 'area';
    this.line = this.addEntity({
      polyline: { positions: new Cesium.CallbackProperty(() => this.outline(), false), width: 2, material: MEASURE, depthFailMaterial: MEASURE },
    });
  }

  addEntity(options) {
    const entity = this.viewer.entities.add(options);
    this.entities.push(entity);
    return entity;
  }

  outline() {
    const ring = this.closed && this.points.length > 2 ? [...this.points, this.points[0]] : this.points;
    return ring.map(cartesian);
  }

  label(point, text) {
    this.addEntity({ position: cartesian(point), label: { text, font: '13px sans-serif', fillColor: Cesium.Color.WHITE, showBackground: true, backgroundColor: Cesium.Color.fromCssColorString('#10161ecc'), pixelOffset: new Cesium.Cartesian2(0, -16), disableDepthTestDistance: onTop } });
  }

  add(ground) {
    const last = this.points.at(-1);
    if (last && last[0] === ground.lon && last[1] === ground.lat) return; // the 2nd click of a double-click
    const point = [ground.lon, ground.lat, ground.h];
    this.points.push(point);
    this.addEntity({ position: cartesian(point), point: { pixelSize: 8, color: MEASURE, outlineColor: Cesium.Color.BLACK, outlineWidth: 1, disableDepthTestDistance: onTop } });
    if (this.mode === 'distance' && last) this.label(point, metres(geodesicDistance(last, point)));
    if (this.mode === 'height' && this.points.length === 2) this.finish();
  }

  finish() {
    const needed = { distance: 2, area: 3, height: 2 }[this.mode];
    if (this.done || this.points.length < needed) return this.done;
    this.done = true;
    const result = this.result();
    const at = this.points.at(-1);
    if (this.mode === 'area') {
      this.addEntity({ polygon: { hierarchy: this.points.map(cartesian), material: MEASURE.withAlpha(0.25), classificationType: Cesium.ClassificationType.BOTH } });
      this.label(at, `${result.area_m2.toFixed(1)} m²`);
    } else if (this.mode === 'distance') this.label(at, `${t('total')} ${metres(result.distance_m)}`);
    else this.label(at, `Δh ${result.height_difference_m.toFixed(2)} m`);
    this.result_ = result;
    this.onResult(result);
    return true;
  }

  /** The numbers: lengths on the ellipsoid and in space, the area, the height difference. */
  result() {
    const pts = this.points;
    const pairs = pts.slice(1).map((p, i) => [pts[i], p]);
    if (this.closed) pairs.push([pts.at(-1), pts[0]]);
    const segments = pairs.map(([a, b]) => ({ distance_m: geodesicDistance(a, b), slope_distance_m: Cesium.Cartesian3.distance(cartesian(a), cartesian(b)), height_difference_m: b[2] - a[2] }));
    const sum = (key) => segments.reduce((total, s) => total + s[key], 0);
    const base = { mode: this.mode, points: pts };
    if (this.mode === 'area') return { ...base, area_m2: ringArea(pts), perimeter_m: sum('distance_m') };
    if (this.mode === 'height') return { ...base, ...segments[0] };
    return { ...base, distance_m: sum('distance_m'), slope_distance_m: sum('slope_distance_m'), segments };
  }

  remove() {
    for (const e of this.entities) this.viewer.entities.remove(e);
    this.entities = [];
  }
}

/** Ground-to-pipe depth at a clicked pipe: the ground (terrain) above the clicked point less the
 * height of the point on the pipe; beside it the depth the pipe's record gives. */
export async function pipeDepth(viewer, picked, position) {
  const point = viewer.scene.pickPosition(position);
  if (!point) return null;
  const c = Cesium.Cartographic.fromCartesian(point);
  const ground = viewer.scene.globe.getHeight(c);
  const id = String(picked.getProperty('id'));
  const record = await api.collectionItem('pipelines', id, { quiet: true }).then((f) => f.properties).catch(() => ({}));
  const result = {
    mode: 'depth',
    id,
    lon: Cesium.Math.toDegrees(c.longitude),
    lat: Cesium.Math.toDegrees(c.latitude),
    pipe_h: c.height,
    ground_h: ground,
    depth_m: ground - c.height,
    record_depth_m: record.depth_m ?? null,
  };
  return result;
}

/** Rows of a measurement for the side panel, with Chinese labels. */
export function measurePanel(result) {
  const rows = [];
  const add = (key, value) => value !== undefined && value !== null && rows.push(`<dt>${escape(t(key))}</dt><dd>${escape(value)}</dd>`);
  add('horizontal_distance', result.distance_m !== undefined ? metres(result.distance_m) : null);
  add('slope_distance', result.slope_distance_m !== undefined ? metres(result.slope_distance_m) : null);
  add('height_difference', result.height_difference_m !== undefined ? `${result.height_difference_m.toFixed(2)} m` : null);
  add('area', result.area_m2 !== undefined ? `${result.area_m2.toFixed(1)} m²` : null);
  add('perimeter', result.perimeter_m !== undefined ? metres(result.perimeter_m) : null);
  add('pipe_id', result.id);
  add('measured_depth', result.depth_m !== undefined ? `${result.depth_m.toFixed(2)} m` : null);
  add('record_depth', result.record_depth_m !== null && result.record_depth_m !== undefined ? `${result.record_depth_m} m` : null);
  panel(t(`measure_${result.mode}`), `<dl id="measure-result" data-mode="${escape(result.mode)}">${rows.join('')}</dl>`);
}
