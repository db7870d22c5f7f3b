// Oversight of the joint review (审图监管): every submission with its agencies, rounds, days in each
// state and overdue agencies; each rule's pass rate; CSV/XLSX export; and the submissions on a map
// of their parcels (GET .../oversight.geojson), filled with their state's colour.
import * as api from './api.js';
import { applyLabels, label, lang, show, startPage } from './review_page.js';

const BASE = 'reviews/submissions';
const SVG = 'http://www.w3.org/2000/svg';
const state = (window.cimOversight = { ready: false, document: null, geojson: null });
const $ = (id) => document.getElementById(id);


function cell(row, content, className) {
  const td = document.createElement('td');
  if (content instanceof Node) td.append(content);
  else td.textContent = content ?? '';
  if (className) td.className = className;
  row.append(td);
  return td;
}

function header(table, keys) {
  const row = document.createElement('tr');
  for (const key of keys) {
    const th = document.createElement('th');
    th.textContent = label(key);
    row.append(th);
  }
  table.tHead.replaceChildren(row);
}

const name = (pair) => (pair ? pair[lang() ? 'en' : 'zh'] : '');
const days = (value) => value.toFixed(1);

function submissionsTable(document_) {
  const table = $('submissions');
  header(table, ['submission', 'project', 'status', 'round', 'received', 'days_in_state', 'agencies', 'overdue', 'drawing_link']);
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const s of document_.submissions) {
    const row = document.createElement('tr');
    row.dataset.submission = s.id;
    row.dataset.status = s.status;
    cell(row, String(s.id));
    cell(row, `${s.project_code} ${s.project_name ?? ''}`);
    cell(row, name(s.status_label));
    cell(row, String(s.round));
    cell(row, s.received_at.slice(0, 16).replace('T', ' '));
    cell(row, Object.entries(s.days_in_state).map(([k, v]) => `${name(document_.states[k])} ${days(v)}`).join(' · '));
    cell(row, s.agencies.map((p) => `${name(p.drawing_type_label)}: ${p.agency_name ?? p.agency} ${p.status_label} (${label('round')} ${p.round})`).join('\n'));
    const late = s.agencies.filter((p) => p.overdue).map((p) => p.agency_name ?? p.agency);
    cell(row, late.join('\n'), late.length ? 'overdue' : undefined).dataset.overdue = String(late.length);
    const link = document.createElement('a');
    link.href = `drawing.html?submission=${s.id}`;
    link.textContent = label('drawing_link');
    cell(row, link);
    body.append(row);
  }
}

function rulesTable(document_) {
  const table = $('rules');
  header(table, ['rule', 'drawing_types', 'reviews', 'passed', 'pass_rate']);
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const r of document_.rules) {
    const row = document.createElement('tr');
    row.dataset.rule = r.rule;
    cell(row, r.rule);
    cell(row, r.drawing_types.join(', '));
    cell(row, String(r.checked));
    cell(row, String(r.passed));
    cell(row, `${(r.pass_rate * 100).toFixed(1)}%`);
    body.append(row);
  }
}

/** The parcels in an SVG, lon/lat scaled by cos(latitude) and fitted to the box. */
function drawMap(geojson, states) {
  const svg = $('map');
  const width = svg.clientWidth || 800;
  const height = svg.clientHeight || 420;
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.replaceChildren();
  const rings = (g) => (g.type === 'Polygon' ? g.coordinates : g.type === 'MultiPolygon' ? g.coordinates.flat() : []);
  const points = geojson.features.filter((f) => f.geometry).flatMap((f) => rings(f.geometry).flat());
  if (!points.length) return;
  const lons = points.map((p) => p[0]);
  const lats = points.map((p) => p[1]);
  const k = Math.cos(((Math.min(...lats) + Math.max(...lats)) / 2) * (Math.PI / 180));
  const [x0, x1, y0, y1] = [Math.min(...lons) * k, Math.max(...lons) * k, Math.min(...lats), Math.max(...lats)];
  const scale = 0.9 * Math.min(width / Math.max(x1 - x0, 1e-9), height / Math.max(y1 - y0, 1e-9));
  const dx = (width - (x1 - x0) * scale) / 2;
  const dy = (height - (y1 - y0) * scale) / 2;
  const xy = ([lon, lat]) => `${(dx + (lon * k - x0) * scale).toFixed(1)},${(height - dy - (lat - y0) * scale).toFixed(1)}`;
  for (const feature of geojson.features) {
    if (!feature.geometry) continue;
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('d', rings(feature.geometry).map((ring) => `M${ring.map(xy).join('L')}Z`).join(''));
    path.setAttribute('fill', feature.properties.colour);
    path.setAttribute('fill-opacity', '0.6');
    path.setAttribute('stroke', '#1d2733');
    path.dataset.submission = feature.properties.submission;
    path.dataset.status = feature.properties.status;
    const title = document.createElementNS(SVG, 'title');
    title.textContent = `${feature.properties.project_code} #${feature.properties.submission}: ${lang() ? feature.properties.status_en : feature.properties.status_zh}`;
    path.append(title);
    svg.append(path);
  }
  $('legend').replaceChildren(
    ...Object.values(states).map((s) => {
      const item = document.createElement('span');
      item.innerHTML = `<svg width="14" height="14"><rect width="14" height="14" fill="${s.colour}"/></svg> `;
      item.append(`${name(s)}  `);
      return item;
    }),
  );
}

async function download(format) {
  const response = await api.request(`${BASE}/oversight?f=${format}`, { raw: true });
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = `review-oversight.${format}`;
  link.click();
  URL.revokeObjectURL(url);
}

function render() {
  if (!state.document) return;
  submissionsTable(state.document);
  rulesTable(state.document);
  drawMap(state.geojson, state.document.states);
}

async function open() {
  [state.document, state.geojson] = await Promise.all([
    api.request(`${BASE}/oversight`),
    api.request(`${BASE}/oversight.geojson`),
  ]);
  render();
}

applyLabels(render);
$('export-csv').onclick = () => download('csv').catch((exc) => show(exc.message));
$('export-xlsx').onclick = () => download('xlsx').catch((exc) => show(exc.message));
startPage(state, open);
