// Credit supervision (信用监管) in the viewer: the alert list with filters (kind, level, state,
// district); an alert opens on the map with its evidence highlighted (the enterprise, its sites, the
// features near them) and the enterprise's credit card (score, grade, the explanation, the grade
// history as a chart); the alert's workflow buttons as the role allows; the regional risk heat map by
// district or by hexagon with its legend. Loaded when its section is first opened.
// Labels: the vocabularies of the layer registry (kinds, levels, states, grades) and the words below.
import * as api from './api.js';
import { t, addLabels, language } from './i18n.js';
import { entitiesDrawn } from './scene.js';
import { escape, panel } from './ui.js';

const { Cesium } = window;

const WORDS = {
  credit_kind: { zh: '预警类型', en: 'Kind' },
  credit_level: { zh: '级别', en: 'Level' },
  credit_state: { zh: '状态', en: 'State' },
  credit_district: { zh: '区县', en: 'District' },
  credit_all: { zh: '全部', en: 'All' },
  credit_none: { zh: '暂无预警', en: 'No alerts' },
  credit_score: { zh: '信用分', en: 'Score' },
  credit_grade: { zh: '信用等级', en: 'Grade' },
  credit_ruleset: { zh: '规则版本', en: 'Ruleset' },
  credit_explanation: { zh: '扣分说明', en: 'What moved the score' },
  credit_indicator: { zh: '指标', en: 'Indicator' },
  credit_value: { zh: '值', en: 'Value' },
  credit_points: { zh: '影响分值', en: 'Points' },
  credit_records: { zh: '依据记录', en: 'Records' },
  credit_history: { zh: '等级历史', en: 'Grade history' },
  credit_evidence: { zh: '预警依据', en: 'Evidence' },
  credit_open: { zh: '定位', en: 'Show' },
  credit_assignee: { zh: '派发给', en: 'Assign to' },
  credit_due: { zh: '办结期限', en: 'Due' },
  credit_note: { zh: '反馈说明', en: 'Feedback' },
  credit_step_review: { zh: '研判', en: 'Review' },
  credit_step_dispatch: { zh: '派发', en: 'Dispatch' },
  credit_step_feedback: { zh: '反馈', en: 'Feedback' },
  credit_step_close: { zh: '办结', en: 'Close' },
  credit_heat: { zh: '区域风险热力图', en: 'Regional risk heat map' },
  credit_heat_off: { zh: '不显示', en: 'Off' },
  credit_heat_district: { zh: '按区县', en: 'By district' },
  credit_heat_hexagon: { zh: '按六边形网格', en: 'By hexagon' },
  credit_mean_risk: { zh: '平均风险（A=0 … D=3）', en: 'Mean risk (A 0 … D 3)' },
  credit_enterprises: { zh: '企业数', en: 'Enterprises' },
  credit_no_districts: { zh: '未导入区县边界', en: 'No district boundaries loaded' },
};

// The workflow: the step each state allows, and what the step asks for.
const NEXT_STEP = { generated: 'review', reviewed: 'dispatch', dispatched: 'feedback', feedback: 'close' };
const WRITERS = new Set(['credit', 'admin']);
const HIGHLIGHT = '#00E5FF';
const RISK_GRADES = ['A', 'B', 'C', 'D']; // mean risk 0..3 binned to the grade whose risk it is nearest

const $ = (id) => document.getElementById(id);
const label = (vocab, code) => t(`${vocab}.${code}`);

/** The centre (lon, lat) of a GeoJSON geometry's bounding box. */
function bboxCentre(geometry) {
  const flat = [];
  const walk = (c) => (typeof c[0] === 'number' ? flat.push(c) : c.forEach(walk));
  walk(geometry.coordinates);
  const lons = flat.map((p) => p[0]);
  const lats = flat.map((p) => p[1]);
  return [(Math.min(...lons) + Math.max(...lons)) / 2, (Math.min(...lats) + Math.max(...lats)) / 2];
}

export class Credit {
  constructor(viewer, root, groundHeight, hooks) {
    this.viewer = viewer;
    this.root = root;
    this.ground = groundHeight; // ellipsoidal height of the lowest ground: the flights look down from above it
    this.hooks = hooks; // window.cim.credit: what the tests read
    this.alerts = new Map();
    this.evidence = new Cesium.CustomDataSource('credit-evidence');
    this.heat = new Cesium.CustomDataSource('credit-heat');
    viewer.dataSources.add(this.evidence);
    viewer.dataSources.add(this.heat);
    addLabels(WORDS);
  }

  async start() {
    this.vocab = (await api.layerRegistry()).vocabularies;
    this.districts = await api.request('credit/stats/districts');
    this.hooks.districts = this.districts;
    this.render();
    $('lang').addEventListener('click', () => this.render()); // the page switched language first
    await this.list();
  }

  /** The section's controls in the current language (chosen filters and heat map kept), then the list. */
  render() {
    const kept = Object.fromEntries([...this.root.querySelectorAll('select')].map((el) => [el.id, el.value]));
    const options = (vocab) =>
      vocab ? this.vocab[vocab].entries.map((e) => `<option value="${escape(e.code)}">${escape(label(vocab, e.code))}</option>`).join('') : '';
    const select = (id, vocab) =>
      `<label>${escape(t(`credit_${id}`))} <select id="credit-${id}"><option value="">${escape(t('credit_all'))}</option>${options(vocab)}</select></label>`;
    this.root.innerHTML = `
      <div class="credit-filters">
        ${select('kind', 'credit_alert_kinds')}${select('level', 'credit_alert_levels')}
        ${select('state', 'credit_alert_statuses')}${select('district', null)}
      </div>
      <ul id="credit-alerts"></ul>
      <fieldset><legend>${escape(t('credit_heat'))}</legend>
        <select id="credit-heat">
          <option value="">${escape(t('credit_heat_off'))}</option>
          <option value="district">${escape(t('credit_heat_district'))}</option>
          <option value="hexagon">${escape(t('credit_heat_hexagon'))}</option>
        </select>
        <div id="credit-legend"></div>
      </fieldset>`;
    $('credit-district').insertAdjacentHTML(
      'beforeend',
      this.districts.map((d) => `<option value="${escape(d.district)}">${escape(d.district)}</option>`).join(''),
    );
    for (const [id, value] of Object.entries(kept)) $(id).value = value;
    for (const id of ['kind', 'level', 'state', 'district']) $(`credit-${id}`).onchange = () => this.list();
    $('credit-heat').onchange = (e) => this.heatMap(e.target.value);
    if (kept['credit-heat']) this.heatMap(kept['credit-heat']);
    if (this.hooks.filters) this.list();
  }

  /** The alert list under the current filters. */
  async list() {
    const filters = { kind: $('credit-kind').value, level: $('credit-level').value, state: $('credit-state').value, district: $('credit-district').value };
    const query = { ...filters, status: filters.state, state: undefined };
    const params = new URLSearchParams(Object.entries(query).filter(([, v]) => v));
    const ticket = (this.ticket = (this.ticket ?? 0) + 1);
    const alerts = await api.request(`credit/alerts?${params}`);
    if (ticket !== this.ticket) return null; // a later change asked again: its answer is the one shown
    this.alerts = new Map(alerts.map((a) => [a.id, a]));
    const ul = $('credit-alerts');
    ul.innerHTML = alerts.length
      ? alerts.map((a) => this.item(a)).join('')
      : `<li class="empty">${escape(t('credit_none'))}</li>`;
    for (const li of ul.querySelectorAll('li[data-alert-id]')) li.querySelector('[data-act=open]').onclick = () => this.open(Number(li.dataset.alertId));
    this.hooks.listed = alerts.map((a) => a.id);
    this.hooks.filters = filters;
    return alerts;
  }

  item(a) {
    const colour = this.vocab.credit_alert_levels.entries.find((e) => e.code === a.level)?.color ?? '#999';
    return `<li data-alert-id="${a.id}" data-level="${escape(a.level)}">
      <span class="swatch" style="background:${escape(colour)}" title="${escape(label('credit_alert_levels', a.level))}"></span>
      <b>${escape(label('credit_alert_kinds', a.kind))}</b> ${escape(a.enterprise_name ?? a.enterprise_uscc ?? '')}
      <small>${escape(a.district ?? '')} · ${escape(label('credit_alert_statuses', a.status))}</small>
      <button data-act="open">${escape(t('credit_open'))}</button></li>`;
  }

  /** Open an alert: its evidence highlighted on the map, the camera over its site (or enterprise), the card in the panel. */
  async open(id) {
    const alert = this.alerts.get(id) ?? (await api.request(`credit/alerts?limit=2000`)).find((a) => a.id === id);
    const evidence = await api.request(`credit/alerts/${id}/features`);
    this.evidence.entities.removeAll();
    const colour = Cesium.Color.fromCssColorString(HIGHLIGHT);
    for (const f of evidence.features) this.draw(f, colour);
    this.hooks.highlighted = evidence.features.map((f) => f.properties.ref ?? f.properties.role);
    const target = ['site', 'enterprise', 'centre', 'feature', 'record'].map((role) => evidence.features.find((f) => f.properties.role === role)).find(Boolean);
    await this.card(alert, evidence);
    if (!target) return;
    const [lon, lat] = bboxCentre(target.geometry);
    await new Promise((resolve) =>
      this.viewer.camera.flyTo({
        destination: Cesium.Cartesian3.fromDegrees(lon, lat, this.ground + 600),
        orientation: { heading: 0, pitch: -Cesium.Math.PI_OVER_TWO, roll: 0 },
        duration: 1.0,
        complete: resolve,
        cancel: resolve,
      }),
    );
    await entitiesDrawn(this.viewer, this.evidence);
    const at = this.viewer.camera.positionCartographic;
    this.hooks.flown = { alert: id, ref: target.properties.ref, lon: Cesium.Math.toDegrees(at.longitude), lat: Cesium.Math.toDegrees(at.latitude) };
  }

  draw(feature, colour) {
    const { geometry, properties } = feature;
    const id = `credit:${properties.ref ?? properties.role}`;
    const description = escape(properties.ref ?? properties.role);
    const ring = (coords) => Cesium.Cartesian3.fromDegreesArray(coords.flat());
    if (geometry.type === 'Point') {
      this.evidence.entities.add({ id, description, position: Cesium.Cartesian3.fromDegrees(...geometry.coordinates),
        point: { pixelSize: properties.role === 'enterprise' ? 12 : 8, color: colour, outlineColor: Cesium.Color.BLACK, outlineWidth: 1,
                 heightReference: Cesium.HeightReference.CLAMP_TO_GROUND, disableDepthTestDistance: Number.POSITIVE_INFINITY } });
    } else if (geometry.type === 'LineString' || geometry.type === 'MultiLineString') {
      const lines = geometry.type === 'LineString' ? [geometry.coordinates] : geometry.coordinates;
      lines.forEach((line, k) => this.evidence.entities.add({ id: k ? `${id}#${k}` : id, description,
        polyline: { positions: ring(line), width: 5, material: colour, clampToGround: true } }));
    } else {
      const polygons = geometry.type === 'Polygon' ? [geometry.coordinates] : geometry.coordinates;
      polygons.forEach((rings, k) => this.evidence.entities.add({ id: k ? `${id}#${k}` : id, description,
        polygon: { hierarchy: ring(rings[0]), material: colour.withAlpha(0.55), outline: true, outlineColor: colour,
                   classificationType: Cesium.ClassificationType.BOTH } }));
    }
  }

  /** The alert and its enterprise's credit card: score, grade, explanation, grade history chart, workflow. */
  async card(alert, evidence) {
    const profile = alert.enterprise_uscc ? await api.request(`credit/scores/${alert.enterprise_uscc}`) : null;
    const lang = language();
    const explanation = profile?.latest?.explanation ?? [];
    const rows = explanation
      .map((x) => `<tr><td>${escape(lang === 'en' ? x.name_en ?? x.name : x.name)}</td><td>${escape(+Number(x.value).toFixed(3))}</td>
        <td>${escape(x.points)}</td><td>${escape((x.records ?? []).join(', '))}</td></tr>`)
      .join('');
    const grade = profile?.grade ? label('grades_credit', profile.grade) : '—';
    const html = `
      <section class="credit-alert" data-alert-id="${alert.id}">
        <p><b>${escape(label('credit_alert_kinds', alert.kind))}</b> · ${escape(label('credit_alert_levels', alert.level))}
           · <span id="credit-alert-state">${escape(label('credit_alert_statuses', alert.status))}</span></p>
        <p>${escape(alert.message)}</p>
        <h4>${escape(t('credit_evidence'))}</h4>
        <p>${evidence.features.map((f) => escape(f.properties.ref ?? t('credit_open'))).join(', ') || '—'}</p>
        <div id="credit-workflow"></div>
      </section>
      ${profile ? `<section class="credit-profile" data-uscc="${escape(profile.uscc)}">
        <h4>${escape(profile.name)} <small>${escape(profile.uscc)}</small></h4>
        <dl><dt>${escape(t('credit_score'))}</dt><dd id="credit-score">${escape(profile.score ?? '—')}</dd>
            <dt>${escape(t('credit_grade'))}</dt><dd id="credit-grade">${escape(grade)}</dd>
            <dt>${escape(t('credit_ruleset'))}</dt><dd>${escape(profile.latest?.ruleset_version ?? '—')}</dd></dl>
        <h4>${escape(t('credit_explanation'))}</h4>
        <table class="rows" id="credit-explanation"><thead><tr><th>${escape(t('credit_indicator'))}</th><th>${escape(t('credit_value'))}</th>
          <th>${escape(t('credit_points'))}</th><th>${escape(t('credit_records'))}</th></tr></thead><tbody>${rows}</tbody></table>
        <h4>${escape(t('credit_history'))}</h4>
        <div id="credit-chart" style="width:100%;height:200px"></div>
      </section>` : ''}`;
    panel(`${label('credit_alert_kinds', alert.kind)} #${alert.id}`, html);
    this.workflow(alert);
    if (profile) await this.chart(profile);
  }

  /** The grade history as an ECharts line (score by date, the grade as the point's label). */
  async chart(profile) {
    const echarts = await import('/vendor/echarts/echarts.esm.min.js');
    const grades = Object.fromEntries(this.vocab.grades_credit.entries.map((e) => [e.code, e.color]));
    const data = profile.history.map((h) => ({ value: [h.graded_on, h.score], grade: h.grade, itemStyle: { color: grades[h.grade] } }));
    const chart = echarts.init($('credit-chart'), 'dark', { renderer: 'canvas' });
    chart.setOption({
      backgroundColor: 'transparent',
      animation: false,
      grid: { left: 36, right: 12, top: 16, bottom: 24 },
      tooltip: { trigger: 'item', formatter: (p) => `${p.value[0]} ${label('grades_credit', p.data.grade)} ${p.value[1]}` },
      xAxis: { type: 'time' },
      yAxis: { type: 'value', name: t('credit_score'), min: (v) => Math.max(0, Math.floor(v.min - 5)), max: 100 },
      series: [{ type: 'line', step: 'end', symbolSize: 8, data, label: { show: true, formatter: (p) => p.data.grade } }],
    });
    this.chartInstance = chart;
    this.hooks.chart = { uscc: profile.uscc, points: chart.getOption().series[0].data.length };
  }

  /** The alert's next step as a button (with its inputs), for roles that may handle alerts. */
  workflow(alert) {
    const box = $('credit-workflow');
    const step = NEXT_STEP[alert.status];
    if (!step || !WRITERS.has(api.auth.user?.role)) {
      box.innerHTML = '';
      return;
    }
    const inputs = {
      dispatch: `<label>${escape(t('credit_assignee'))} <input id="credit-assignee" size="10" required></label>
                 <label>${escape(t('credit_due'))} <input id="credit-due" type="date"></label>`,
      feedback: `<label>${escape(t('credit_note'))} <input id="credit-note" size="20" required></label>`,
    };
    box.innerHTML = `${inputs[step] ?? ''}<button data-step="${step}">${escape(t(`credit_step_${step}`))}</button>`;
    box.querySelector('button').onclick = async () => {
      const body = {};
      if (step === 'dispatch') Object.assign(body, { assignee: $('credit-assignee').value.trim(), due_on: $('credit-due').value || null });
      if (step === 'feedback') body.note = $('credit-note').value.trim();
      const updated = await api.request(`credit/alerts/${alert.id}/${step}`, { method: 'POST', json: body }).catch(() => null);
      if (!updated) return;
      this.alerts.set(updated.id, updated);
      $('credit-alert-state').textContent = label('credit_alert_statuses', updated.status);
      (this.hooks.steps ??= []).push([updated.id, updated.status]);
      this.workflow(updated);
      await this.list();
    };
  }

  /** The regional risk heat map ('district', 'hexagon' or '' for none) with its legend. */
  async heatMap(kind) {
    this.heat.entities.removeAll();
    $('credit-legend').innerHTML = '';
    this.hooks.heat = { kind, cells: 0 };
    if (!kind) return;
    const answer = await api.request(kind === 'district' ? 'credit/stats/districts/map' : 'credit/stats/hexagons');
    const colours = Object.fromEntries(this.vocab.grades_credit.entries.map((e) => [e.code, e.color]));
    const colourOf = (risk) => colours[RISK_GRADES[Math.min(3, Math.max(0, Math.round(risk)))]];
    for (const f of answer.features) {
      const polygons = f.geometry.type === 'Polygon' ? [f.geometry.coordinates] : f.geometry.coordinates;
      const colour = Cesium.Color.fromCssColorString(colourOf(f.properties.mean_risk)).withAlpha(0.45);
      polygons.forEach((rings, k) =>
        this.heat.entities.add({
          id: `heat:${f.id}#${k}`,
          description: `${escape(t('credit_mean_risk'))}: ${escape(f.properties.mean_risk)}; ${escape(t('credit_enterprises'))}: ${escape(f.properties.enterprises)}`,
          polygon: { hierarchy: Cesium.Cartesian3.fromDegreesArray(rings[0].flat()), material: colour, classificationType: Cesium.ClassificationType.TERRAIN },
        }),
      );
    }
    this.hooks.heat = { kind, cells: answer.features.length, colours: answer.features.map((f) => colourOf(f.properties.mean_risk)) };
    const items = RISK_GRADES.map((g, risk) => `<li><span class="swatch" style="background:${escape(colours[g])}"></span>${risk} · ${escape(label('grades_credit', g))}</li>`);
    $('credit-legend').innerHTML = answer.features.length
      ? `<p>${escape(t('credit_mean_risk'))}</p><ul class="legend">${items.join('')}</ul>`
      : `<p class="empty">${escape(t(kind === 'district' ? 'credit_no_districts' : 'credit_none'))}</p>`;
  }
}
