// The live city: sensors in the tunnel (coloured by alarm level), compartments coloured by their
// worst sensor, the open alarms (fly to, acknowledge, close) and a reading chart over a window.
// Loaded on demand when the "live" section is opened, so the first view makes no extra request.
// Pushed news comes over Server-Sent Events (/api/v1/live/stream): `alarms` (the open ones, first),
// then `alarm` and `readings` as they happen.
import * as api from './api.js';
import { t } from './i18n.js';
import { escape } from './ui.js';

const { Cesium } = window;
const $ = (id) => document.getElementById(id);
const LEVEL_COLOURS = ['#43a047', '#fbc02d', '#e53935'];
const LEVELS = { warning: 1, alarm: 2 };

export class Live {
  constructor(viewer, geoidOffset, hooks) {
    this.viewer = viewer;
    this.offset = geoidOffset; // ellipsoidal minus orthometric height here
    this.hooks = hooks; // window.cim.live: what the tests read
    this.sensors = new Map(); // id -> {sensor, entity}
    this.alarms = new Map(); // id -> alarm (open ones)
    this.compartments = new Map(); // id -> entity
    this.source = new Cesium.CustomDataSource('live');
    viewer.dataSources.add(this.source);
  }

  async start() {
    const sensors = await api.request('sensors');
    for (const s of sensors) this.addSensor(s);
    this.drawCompartments();
    const select = $('live-sensor');
    select.innerHTML = sensors.map((s) => `<option value="${escape(s.id)}">${escape(s.id)}</option>`).join('');
    $('live-chart-run').onclick = () => this.chart(select.value, Number($('live-window').value));
    this.stream = new EventSource(`${api.API}/live/stream`);
    this.stream.addEventListener('alarms', (e) => {
      for (const a of JSON.parse(e.data)) this.alarms.set(a.id, a);
      this.hooks.connected = true;
      this.renderAlarms();
    });
    this.stream.addEventListener('alarm', (e) => {
      const now = Date.now();
      for (const a of JSON.parse(e.data)) {
        if (!this.hooks.seen[a.id]) this.hooks.seen[a.id] = now;
        if (a.status === 'closed') this.alarms.delete(a.id);
        else this.alarms.set(a.id, a);
        this.hooks.statuses[a.id] = a.status;
      }
      this.renderAlarms();
    });
    this.stream.addEventListener('readings', (e) => {
      for (const r of JSON.parse(e.data)) {
        const entry = this.sensors.get(r.sensor_id);
        if (entry) entry.sensor.last_value = r.value;
      }
      this.hooks.readings += 1;
    });
  }

  position(s) {
    return Cesium.Cartesian3.fromDegrees(s.lon, s.lat, s.h + this.offset);
  }

  addSensor(s) {
    const entity = this.source.entities.add({
      id: `sensor:${s.id}`,
      position: this.position(s),
      point: { pixelSize: 7, color: Cesium.Color.fromCssColorString(LEVEL_COLOURS[s.level] ?? LEVEL_COLOURS[0]),
               disableDepthTestDistance: Number.POSITIVE_INFINITY },
      description: `${escape(s.kind)} ${escape(s.unit)}`,
    });
    this.sensors.set(s.id, { sensor: s, entity });
  }

  levelOf(sensorId) {
    let level = 0;
    for (const a of this.alarms.values()) if (a.sensor_id === sensorId && !a.cleared_at) level = Math.max(level, LEVELS[a.level] ?? 0);
    return level;
  }

  drawCompartments() {
    const byCompartment = new Map();
    for (const { sensor } of this.sensors.values()) {
      if (!sensor.compartment_id) continue;
      if (!byCompartment.has(sensor.compartment_id)) byCompartment.set(sensor.compartment_id, []);
      byCompartment.get(sensor.compartment_id).push(sensor);
    }
    for (const [id, list] of byCompartment) {
      list.sort((a, b) => a.lon - b.lon);
      const entity = this.source.entities.add({
        id: `compartment:${id}`,
        polyline: { positions: list.map((s) => this.position(s)), width: 6, material: Cesium.Color.fromCssColorString(LEVEL_COLOURS[0]).withAlpha(0.8) },
      });
      this.compartments.set(id, { entity, sensors: list.map((s) => s.id) });
    }
  }

  colour() {
    for (const [id, { sensor, entity }] of this.sensors) {
      entity.point.color = Cesium.Color.fromCssColorString(LEVEL_COLOURS[this.levelOf(id)]);
      sensor.level = this.levelOf(id);
    }
    for (const [id, { entity, sensors }] of this.compartments) {
      const level = Math.max(0, ...sensors.map((s) => this.levelOf(s)));
      entity.polyline.material = Cesium.Color.fromCssColorString(LEVEL_COLOURS[level]).withAlpha(0.8);
      this.hooks.compartments[id] = level;
    }
  }

  renderAlarms() {
    const list = $('alarm-list');
    const alarms = [...this.alarms.values()].sort((a, b) => String(b.raised_at).localeCompare(String(a.raised_at)));
    list.innerHTML = alarms.length
      ? alarms
          .map(
            (a) => `<li data-alarm-id="${a.id}" data-status="${escape(a.status)}" class="alarm ${escape(a.level)}">
              <b>${escape(t(a.level))}</b> ${escape(a.sensor_id)} ${escape(a.peak_value)}
              <span class="alarm-status">${escape(t(a.status))}</span>
              <button data-act="fly">${escape(t('fly_to'))}</button>
              <button data-act="acknowledged">${escape(t('acknowledge'))}</button>
              <button data-act="closed">${escape(t('close_alarm'))}</button></li>`,
          )
          .join('')
      : `<li>${escape(t('no_open_alarms'))}</li>`;
    for (const li of list.querySelectorAll('li[data-alarm-id]')) {
      const alarm = this.alarms.get(Number(li.dataset.alarmId));
      li.querySelector('[data-act=fly]').onclick = () => this.flyTo(alarm);
      for (const status of ['acknowledged', 'closed']) {
        li.querySelector(`[data-act=${status}]`).onclick = () =>
          api.request(`alarms/${alarm.id}/steps`, { method: 'POST', json: { status } });
      }
    }
    this.colour();
    this.hooks.open = alarms.map((a) => a.id);
  }

  flyTo(alarm) {
    const entry = this.sensors.get(alarm.sensor_id);
    if (!entry) return;
    this.viewer.camera.flyTo({
      destination: Cesium.Cartesian3.fromDegrees(entry.sensor.lon, entry.sensor.lat, entry.sensor.h + this.offset + 120),
      orientation: { heading: 0, pitch: -Cesium.Math.PI_OVER_TWO, roll: 0 },
      duration: 1,
    });
    this.chart(alarm.sensor_id, 60);
    $('live-sensor').value = alarm.sensor_id;
  }

  async chart(sensorId, minutes) {
    const end = new Date();
    const start = new Date(end.getTime() - minutes * 60000);
    const answer = await api.request(`sensors/${encodeURIComponent(sensorId)}/readings?start=${start.toISOString()}&end=${end.toISOString()}`);
    const canvas = $('live-chart');
    const g = canvas.getContext('2d');
    g.clearRect(0, 0, canvas.width, canvas.height);
    const values = answer.readings.map((r) => r.value);
    this.hooks.chart = { sensor: sensorId, points: values.length };
    if (!values.length) return;
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    const span = hi - lo || 1;
    const times = answer.readings.map((r) => Date.parse(r.time));
    const x = (ms) => ((ms - start.getTime()) / (end.getTime() - start.getTime())) * (canvas.width - 10) + 5;
    const y = (v) => canvas.height - 14 - ((v - lo) / span) * (canvas.height - 24);
    g.strokeStyle = '#4fc3f7';
    g.beginPath();
    values.forEach((v, i) => (i ? g.lineTo(x(times[i]), y(v)) : g.moveTo(x(times[i]), y(v))));
    g.stroke();
    g.fillStyle = '#e8edf2';
    g.fillText(`${answer.kind} ${lo.toFixed(2)}–${hi.toFixed(2)} ${answer.unit}`, 5, canvas.height - 2);
  }
}
