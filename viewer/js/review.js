// BIM review: the upload form (project from the API's list, CRS and origin, checked before
// sending), the progress bar, the report (review_issues.js) and the failing elements in 3D,
// coloured by severity; a click on an issue flies to its element and shows it alone.
import * as api from './api.js';
import { t } from './i18n.js';
import { message, panel } from './ui.js';
import { reviewHtml, severities, worstByElement, wireReview } from './review_issues.js';

const { Cesium } = window;
const POLL_MS = 500;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** GlobalIds of the elements the review's unresolved issues name. */
export function failingGlobalIds(review) {
  return [...new Set(review.issues.filter((i) => !i.resolved && i.global_id).map((i) => i.global_id))];
}

/** Fill the upload form's project list from the API's projects (code and name), once logged in. */
export async function fillProjects(select) {
  if (select.options.length > 1 || !api.auth.token) return;
  const { features } = await api.collectionItems('projects', { sortby: 'code' });
  for (const f of features) select.add(new Option(`${f.properties.code} ${f.properties.name ?? ''}`.trim(), f.properties.code));
}

/** What the form asks, checked before anything is sent: {file, project, placement} or {problem} (an i18n key). */
export function checkSubmission({ loggedIn, file, project, crs, origin }) {
  if (!loggedIn) return { problem: 'review_need_login' }; // a role that may not submit: the API's 403 says so
  if (!file) return { problem: 'review_need_file' };
  if (!project) return { problem: 'review_need_project' };
  const numbers = origin ? origin.split(',').map((v) => Number(v.trim())) : [];
  if (Boolean(crs) !== Boolean(origin) || (origin && (numbers.length !== 3 || numbers.some((n) => !Number.isFinite(n))))) {
    return { problem: 'review_need_placement' };
  }
  return { file, project, placement: crs ? { crs, origin: numbers.join(',') } : null };
}

export class Review {
  /** `heightOffset`: ellipsoidal minus orthometric height here (the API's heights are orthometric). */
  constructor(viewer, layers, bar, label, heightOffset = 0) {
    this.viewer = viewer;
    this.heightOffset = heightOffset;
    this.entities = [];
    this.elements = new Map(); // GlobalId -> the API's element (footprint, heights), once asked
    this.marked = null; // {layer: 'bim-<id>' | 'elements', ids} once a report is shown
    this.isolated = null; // the GlobalId shown alone, after a click on its issue
    this.flown = Promise.resolve(); // resolves when the last flight ends
    this.layers = layers;
    this.bar = bar;
    this.label = label;
  }

  progress(fraction, text) {
    this.bar.value = Math.round(fraction * 100);
    this.label.textContent = text;
  }

  /** Check the form's answers (see checkSubmission), then run; a problem shows and nothing is sent. */
  submit(form) {
    const checked = checkSubmission({ loggedIn: Boolean(api.auth.token), ...form });
    if (checked.problem) {
      this.label.textContent = t(checked.problem);
      message(t(checked.problem), 'error', 'review-form');
      return Promise.resolve(null);
    }
    return this.run(checked.file, checked.project, checked.placement);
  }

  /** Upload (first half of the bar), then the job's own percent (second half); returns the report. */
  async run(file, projectCode, placement = null) {
    this.progress(0, `${t('upload')} 0%`);
    const submitted = await api.uploadReview(file, projectCode, (f) => this.progress(f / 2, `${t('upload')} ${Math.round(f * 100)}%`), placement);
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

  /** Open a review by id (as the caller's role sees it). */
  async open(reviewId) {
    const report = await api.review(reviewId);
    await this.show(report);
    return report;
  }

  /** The report in the panel, its failing elements in 3D coloured by severity, the camera on them. */
  async show(report) {
    if (this.report?.id !== report.id) this.elements.clear();
    this.report = report;
    const vocab = severities(this.layers.registry);
    const worst = worstByElement(report.issues, vocab.order);
    const failing = [...worst.keys()];
    panel(`${t('report')} #${report.id ?? ''}`, reviewHtml(report, vocab, failing.length));
    wireReview(document.getElementById('review-report'), report, {
      onIssue: (issue) => issue.global_id && this.isolate(issue.global_id),
      onChange: (changed) => this.show(changed),
      onFly: () => this.flyToMarked(),
      onShowAll: () => this.showAll(),
    });
    this.clear();
    const versionId = report.model_version_id;
    if (!versionId) return;
    const colours = Object.fromEntries([...worst].map(([id, severity]) => [id, vocab.colour(severity)]));
    // a published version has its own tileset: colour the failing elements in it
    const layer = `bim-${versionId}`;
    const tileset = this.layers.tilesets[layer] ?? (await this.layers.addTileset(layer, undefined, { optional: true }));
    if (tileset) {
      this.layers.highlightLayer(layer, colours);
      this.marked = { layer, ids: failing };
    } else {
      // a version under review is not published (no tiles yet): its failing elements as solids
      // from their footprints and heights in the API
      const drawn = await Promise.all(failing.map((id) => this.drawElement(report.model_id, id, colours[id])));
      this.marked = { layer: 'elements', ids: failing.filter((_, i) => drawn[i]) };
    }
    await this.flyToMarked();
  }

  /** Fly to every marked element. */
  flyToMarked() {
    if (!this.marked?.ids.length) return Promise.resolve();
    const tileset = this.layers.tilesets[this.marked.layer];
    const target = tileset ?? this.entities;
    this.flown = this.viewer.flyTo(target, { duration: 1.5, offset: new Cesium.HeadingPitchRange(0.5, tileset ? -0.5 : -0.6, 0) });
    return this.flown;
  }

  /** Show one element alone (the other failing elements hidden) and fly to it. */
  async isolate(globalId) {
    const report = this.report;
    this.isolated = globalId;
    if (this.marked?.layer.startsWith('bim-')) this.layers.showIds(this.marked.layer, [globalId]);
    for (const e of this.entities) e.show = e.name === globalId;
    const element = await this.element(report.model_id, globalId);
    const sphere = element && this.sphereOf(element);
    if (!sphere || this.isolated !== globalId) return;
    this.flown = new Promise((resolve) => {
      this.viewer.camera.flyToBoundingSphere(sphere, {
        duration: 1.2,
        offset: new Cesium.HeadingPitchRange(0.5, -0.5, Math.max(sphere.radius * 4, 30)),
        complete: resolve,
        cancel: resolve,
      });
    });
    await this.flown;
  }

  /** Every marked element shown again. */
  showAll() {
    this.isolated = null;
    if (this.marked?.layer.startsWith('bim-')) this.layers.showIds(this.marked.layer, null);
    for (const e of this.entities) e.show = true;
    return this.flyToMarked();
  }

  clear() {
    for (const e of this.entities) this.viewer.entities.remove(e);
    if (this.marked?.layer.startsWith('bim-')) this.layers.showIds(this.marked.layer, null);
    this.entities = [];
    this.marked = null;
    this.isolated = null;
  }

  /** The API's element of the model's newest version, or null (asked once per GlobalId). */
  async element(modelId, globalId) {
    if (!this.elements.has(globalId)) {
      const path = `bim/models/${modelId}/elements/${encodeURIComponent(globalId)}`;
      this.elements.set(globalId, await api.request(path, { quiet: true }).catch(() => null));
    }
    return this.elements.get(globalId);
  }

  /** An element's outline ring (lon, lat) and ellipsoidal heights, or null without a footprint. */
  solidOf(element) {
    const ring = element?.footprint?.type === 'Polygon' ? element.footprint.coordinates[0] : element?.footprint?.coordinates?.[0]?.[0];
    if (!ring || element.z_min === null || element.z_max === null) return null;
    const bottom = element.z_min + this.heightOffset;
    return { ring: ring.map((c) => c.slice(0, 2)), bottom, top: Math.max(element.z_max + this.heightOffset, bottom + 0.05) };
  }

  sphereOf(element) {
    const solid = this.solidOf(element);
    if (!solid) return null;
    const points = solid.ring.flatMap(([lon, lat]) => [solid.bottom, solid.top].map((h) => Cesium.Cartesian3.fromDegrees(lon, lat, h)));
    return Cesium.BoundingSphere.fromPoints(points);
  }

  /** One element of the newest version of a model as a solid in its colour; false when it has no footprint. */
  async drawElement(modelId, globalId, colour) {
    const solid = this.solidOf(await this.element(modelId, globalId));
    if (!solid) return false;
    this.entities.push(
      this.viewer.entities.add({
        name: globalId,
        polygon: {
          hierarchy: Cesium.Cartesian3.fromDegreesArray(solid.ring.flat()),
          height: solid.bottom,
          extrudedHeight: solid.top,
          material: Cesium.Color.fromCssColorString(colour).withAlpha(0.85),
          outline: true,
          outlineColor: Cesium.Color.WHITE,
        },
      }),
    );
    return true;
  }
}
