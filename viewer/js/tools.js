// Map tools: draw a polygon for area statistics, place an incident, a profile along a line.
import * as api from './api.js';
import { t } from './i18n.js';
import { panel, render, escape, status } from './ui.js';

const { Cesium } = window;
const AFFECTED = '#ff8c00';
const VALVE = '#ff1744';

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
    await this.layers.highlight({
      buildings: colourAll(affected.buildings, AFFECTED),
      pipelines: colourAll(affected.pipelines, AFFECTED),
      tunnel_compartments: colourAll(affected.tunnel_compartments, AFFECTED),
      pipe_nodes: colourAll(valves, VALVE),
    });
    this.drawZone(answer.zone);
    this.flyToZone(answer.zone);
    await Promise.all(valves.map((id) => this.markValve(id)));
    const valveList = valves.map((id) => `<li data-valve="${escape(id)}">${escape(id)}</li>`).join('');
    const counts = Object.entries(affected).map(([layer, ids]) => `<li>${escape(t(layer))}: ${new Set(ids).size}</li>`).join('');
    panel(
      `${t('incident')}: ${t(params.type)}`,
      `<h3>${escape(t('valves_to_close'))} (${valves.length})</h3><ul id="valves">${valveList}</ul>` +
        `<h3>${escape(t('affected'))}</h3><ul>${counts}</ul>${render({ ...answer, zone: undefined })}`,
    );
    return answer;
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

/** A profile along a line: ground and pipes against distance, as an SVG chart plus the numbers. */
export async function profileAlong(points) {
  const answer = await api.profile(points);
  panel(t('profile'), profileChart(answer) + render({ ...answer, ground: undefined }));
  return answer;
}

function profileChart(answer) {
  const ground = answer.ground.map((s) => [s.station_m, s.ground_h_orthometric]);
  const pipes = [
    ...answer.pipes.map((p) => [p.station_m, p.axis_z, p.utility, p.id]),
    ...answer.tunnels.map((c) => [c.station_m, (c.floor_z + c.top_z) / 2, 'tunnel', c.id]),
  ];
  const all = [...ground, ...pipes].filter(([d, h]) => Number.isFinite(d) && Number.isFinite(h));
  if (!all.length) return '';
  const [w, hgt, pad] = [300, 140, 18];
  const dMax = Math.max(...all.map((p) => p[0])) || 1;
  const hs = all.map((p) => p[1]);
  const [hMin, hMax] = [Math.min(...hs) - 1, Math.max(...hs) + 1];
  const x = (d) => pad + (d / dMax) * (w - 2 * pad);
  const y = (h) => hgt - pad - ((h - hMin) / (hMax - hMin)) * (hgt - 2 * pad);
  const line = ground.map(([d, h]) => `${x(d).toFixed(1)},${y(h).toFixed(1)}`).join(' ');
  const dots = pipes
    .map(([d, h, u, id]) => `<circle cx="${x(d).toFixed(1)}" cy="${y(h).toFixed(1)}" r="4" class="pipe ${escape(u ?? '')}"><title>${escape(id ?? '')}</title></circle>`)
    .join('');
  return `<svg class="profile" viewBox="0 0 ${w} ${hgt}"><polyline points="${line}" class="ground"/>${dots}` +
    `<text x="${pad}" y="12">${hMax.toFixed(1)} m</text><text x="${pad}" y="${hgt - 4}">${hMin.toFixed(1)} m · ${dMax.toFixed(0)} m</text></svg>`;
}

export function hint(key) {
  status(t(key));
}
