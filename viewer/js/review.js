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
  constructor(viewer, layers, bar, label) {
    this.viewer = viewer;
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
    if (!versionId) return;
    const layer = `bim-${versionId}`;
    const tileset = this.layers.tilesets[layer] ?? (await this.layers.addTileset(layer));
    if (!tileset) return;
    this.layers.highlightLayer(layer, Object.fromEntries(failing.map((id) => [id, FAILING])));
    const fly = () => this.viewer.flyTo(tileset, { duration: 1.5, offset: new Cesium.HeadingPitchRange(0.5, -0.5, 0) });
    document.getElementById('fly-failing').onclick = fly;
    await fly();
  }
}
