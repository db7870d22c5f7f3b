// BIM review: upload an IFC (progress bar), follow the review job, show the report, fly to the
// failing elements highlighted in red.
import * as api from './api.js';
import { t } from './i18n.js';
import { panel, render, escape } from './ui.js';

const { Cesium } = window;
const FAILING = '#ff0000';
const POLL_MS = 500;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** GlobalIds of the elements the review's unresolved issues name. */
export function failingGlobalIds(review) {
  return [...new Set(review.issues.filter((i) => !i.resolved && i.global_id).map((i) => i.global_id))];
}

export class Review {
  /** `heightOffset`: ellipsoidal minus orthometric height here (the API's heights are orthometric). */
  constructor(viewer, layers, bar, label, heightOffset = 0) {
    this.viewer = viewer;
    this.heightOffset = heightOffset;
    this.entities = [];
    this.marked = null; // {layer: 'bim-<id>' | 'elements', ids} once a report is shown
    this.layers = layers;
    this.bar = bar;
    this.label = label;
  }

  progress(fraction, text) {
    this.bar.value = Math.round(fraction * 100);
    this.label.textContent = text;
  }

  /** Upload (first half of the bar), then the job's own percent (second half); returns the report. */
  async run(file, projectCode) {
    this.progress(0, `${t('upload')} 0%`);
    const submitted = await api.uploadReview(file, projectCode, (f) => this.progress(f / 2, `${t('upload')} ${Math.round(f * 100)}%`));
    const jobId = submitted.job_id;
    let job;
    for (;;) {
      job = await api.job(jobId);
      this.progress(0.5 + (job.percent ?? 0) / 200, `${job.stage ?? job.status} ${Math.round(job.percent ?? 0)}%`);
      if (job.status === 'succeeded' || job.status === 'failed') break;
      await sleep(POLL_MS);
    }
    if (job.status === 'failed') throw new api.ApiError(`${t('review')}: ${job.error}`, 0, `jobs/${jobId}`);
    const reviewId = job.result.review_id;
    const report = await api.review(reviewId);
    this.progress(1, `${t('report')} #${reviewId}`);
    await this.show(report);
    return report;
  }

  async show(report) {
    const failing = failingGlobalIds(report);
    const versionId = report.model_version_id;
    panel(
      `${t('report')} #${report.id ?? ''}`,
      `<p><button id="fly-failing">${escape(t('fly_to_failing'))}</button> ${escape(t('issues'))}: <b id="issue-count">${failing.length}</b></p>` +
        render(report),
    );
    this.clear();
    if (!versionId) return;
    // a published version has its own tileset: colour the failing elements in it
    const layer = `bim-${versionId}`;
    const tileset = this.layers.tilesets[layer] ?? (await this.layers.addTileset(layer, undefined, { optional: true }));
    let fly;
    if (tileset) {
      this.layers.highlightLayer(layer, Object.fromEntries(failing.map((id) => [id, FAILING])));
      this.marked = { layer, ids: failing };
      fly = () => this.viewer.flyTo(tileset, { duration: 1.5, offset: new Cesium.HeadingPitchRange(0.5, -0.5, 0) });
    } else {
      // a version under review is not published (no tiles yet): its failing elements as red solids
      // from their footprints and heights in the API
      const drawn = await Promise.all(failing.map((id) => this.drawElement(report.model_id, id)));
      const ids = failing.filter((_, i) => drawn[i]);
      this.marked = { layer: 'elements', ids };
      if (!ids.length) return;
      fly = () => this.viewer.flyTo(this.entities, { duration: 1.5, offset: new Cesium.HeadingPitchRange(0.5, -0.6, 0) });
    }
    document.getElementById('fly-failing').onclick = fly;
    await fly();
  }

  clear() {
    for (const e of this.entities) this.viewer.entities.remove(e);
    this.entities = [];
    this.marked = null;
  }

  /** One element of the newest version of a model as a red solid; false when it has no footprint. */
  async drawElement(modelId, globalId) {
    const element = await api.request(`bim/models/${modelId}/elements/${encodeURIComponent(globalId)}`, { quiet: true }).catch(() => null);
    const ring = element?.footprint?.type === 'Polygon' ? element.footprint.coordinates[0] : element?.footprint?.coordinates?.[0]?.[0];
    if (!ring || element.z_min === null || element.z_max === null) return false;
    const offset = this.heightOffset;
    this.entities.push(
      this.viewer.entities.add({
        name: globalId,
        polygon: {
          hierarchy: Cesium.Cartesian3.fromDegreesArray(ring.flatMap((c) => c.slice(0, 2))),
          height: element.z_min + offset,
          extrudedHeight: Math.max(element.z_max, element.z_min + 0.05) + offset,
          material: Cesium.Color.fromCssColorString(FAILING).withAlpha(0.85),
          outline: true,
          outlineColor: Cesium.Color.WHITE,
        },
      }),
    );
    return true;
  }
}
