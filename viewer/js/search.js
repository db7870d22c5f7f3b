// The search box: suggestions as you type (debounced; a later answer never shows under an earlier
// query), arrow keys and Enter or a click pick one, the camera flies to it and its profile opens.
import * as api from './api.js';
import { t } from './i18n.js';
import { escape, panel } from './ui.js';
import { PROFILE_KINDS, openProfile } from './profile.js';

const { Cesium } = window;
const DEBOUNCE_MS = 200;
const FLIGHT_S = 1.2;
const MIN_RANGE_M = 300;

/** Fly to look straight down on a CRS84 bbox from a height that shows it whole; resolves when the flight ends. */
export function flyTo(viewer, { bbox }) {
  const [w, s, e, n] = bbox;
  const sphere = Cesium.BoundingSphere.fromRectangle3D(Cesium.Rectangle.fromDegrees(w, s, e, n));
  const range = Math.max(sphere.radius * 3, MIN_RANGE_M);
  return new Promise((resolve) => {
    viewer.camera.flyToBoundingSphere(sphere, {
      offset: new Cesium.HeadingPitchRange(0, -Cesium.Math.PI_OVER_TWO, range),
      duration: FLIGHT_S,
      complete: resolve,
      cancel: resolve,
    });
  });
}

export class Search {
  /** hooks.picked(hit, card) is called once a pick has flown and opened. */
  constructor(viewer, input, list, hooks = {}) {
    Object.assign(this, { viewer, input, list, hooks, hits: [], active: -1, asked: 0, timer: null });
    input.addEventListener('input', () => this.schedule());
    input.addEventListener('keydown', (e) => this.key(e));
    input.addEventListener('blur', () => setTimeout(() => this.close(), 200));
    list.addEventListener('mousedown', (e) => {
      const item = e.target.closest('[role="option"]');
      if (item) this.pick(this.hits[Number(item.dataset.index)]).catch(() => null);
    });
    if (input.value.trim()) this.schedule();
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.suggest(this.input.value.trim()).catch(() => null), DEBOUNCE_MS);
  }

  async suggest(q) {
    const asked = ++this.asked;
    if (!q) return this.close();
    const answer = await api.search(q);
    if (asked !== this.asked) return undefined; // a newer query went out meanwhile
    this.hits = answer.hits;
    this.active = -1;
    this.render();
    return this.hits;
  }

  render() {
    this.list.innerHTML = this.hits.length
      ? this.hits
          .map(
            (h, i) =>
              `<li role="option" data-index="${i}" data-kind="${escape(h.kind)}" data-id="${escape(h.id)}">` +
              `<span class="kind">${escape(h.kind_label)}</span> <span class="label">${escape(h.label)}</span>` +
              (h.subtitle ? `<small>${escape(h.subtitle)}</small>` : '') +
              '</li>',
          )
          .join('')
      : `<li class="empty">${escape(t('search_none'))}</li>`;
    this.list.hidden = false;
    this.input.setAttribute('aria-expanded', 'true');
  }

  close() {
    this.list.hidden = true;
    this.input.setAttribute('aria-expanded', 'false');
  }

  key(e) {
    if (e.key === 'Escape') return this.close();
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      const n = this.hits.length;
      if (!n) return undefined;
      this.active = (this.active + (e.key === 'ArrowDown' ? 1 : n - 1)) % n;
      this.list.querySelectorAll('[role="option"]').forEach((li, i) => li.setAttribute('aria-selected', String(i === this.active)));
      return undefined;
    }
    if (e.key === 'Enter' && this.hits.length) return this.pick(this.hits[Math.max(this.active, 0)]).catch(() => null);
    return undefined;
  }

  /** Fly to a hit (when it has a place) and open its profile (or, without one, what the search knows). */
  async pick(hit) {
    this.close();
    this.input.value = hit.label;
    const title = hit.kind_label;
    const flight = hit.location ? flyTo(this.viewer, hit.location) : Promise.resolve();
    const card = PROFILE_KINDS.has(hit.kind)
      ? await openProfile(hit.kind, hit.id, title)
      : panel(title, `<h3>${escape(hit.label)}</h3><p>${escape(hit.subtitle ?? '')}</p>`);
    await flight;
    this.hooks.picked?.(hit, card);
    return hit;
  }
}
