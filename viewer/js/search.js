// The search box: suggestions as you type (debounced; a later answer never shows under an earlier
// query), arrow keys and Enter or a click pick one, the camera flies to it and its profile opens.
// Coordinates typed in (lon, lat or the city's grid easting, northing) are a suggestion too.
import * as api from './api.js';
import { t } from './i18n.js';
import { mapGrid } from './navigate.js';
import { escape, panel } from './ui.js';
import { PROFILE_KINDS, openProfile } from './profile.js';

const { Cesium } = window;
const DEBOUNCE_MS = 100;
// Flights of 0.3 s (next door) to 0.6 s (FAR_M or more away): search → flown there with the card open
// stays well within a second.
const FLIGHT_S = [0.3, 0.6];
const FAR_M = 5000;
const MIN_RANGE_M = 300;

/** Fly to look straight down on a CRS84 bbox (at an ellipsoidal ground height) from a height that
 * shows it whole; resolves when the flight ends. */
export function flyTo(viewer, { bbox }, groundHeight = 0) {
  const [w, s, e, n] = bbox;
  const sphere = Cesium.BoundingSphere.fromRectangle3D(Cesium.Rectangle.fromDegrees(w, s, e, n), Cesium.Ellipsoid.WGS84, groundHeight);
  const range = Math.max(sphere.radius * 3, MIN_RANGE_M);
  const far = Math.min(Cesium.Cartesian3.distance(viewer.camera.positionWC, sphere.center) / FAR_M, 1);
  return new Promise((resolve) => {
    viewer.camera.flyToBoundingSphere(sphere, {
      offset: new Cesium.HeadingPitchRange(0, -Cesium.Math.PI_OVER_TWO, range),
      duration: FLIGHT_S[0] + far * (FLIGHT_S[1] - FLIGHT_S[0]),
      complete: resolve,
      cancel: resolve,
    });
  });
}

const NUMBER = String.raw`[-+]?\d+(?:\.\d+)?`;
const AXIS = String.raw`\s*°?\s*[EeNnXxYy东北]?\s*`;
const PAIR = new RegExp(String.raw`^\s*(?:[EeXx]\s*)?(${NUMBER})${AXIS}[,，;\s]\s*(?:[NnYy]\s*)?(${NUMBER})${AXIS}$`);

/** Coordinates typed as "lon, lat" (degrees) or "easting, northing" (metres in the city's grid)
 * as a search hit with a place, or null when the text is not two numbers that fit either. */
export async function coordinateHit(q) {
  const found = PAIR.exec(q);
  if (!found) return null;
  const [a, b] = [Number(found[1]), Number(found[2])];
  const hit = (lon, lat, label) => ({ kind: 'coordinates', id: `${lon},${lat}`, kind_label: t('coordinates'), label, lon, lat, location: { bbox: [lon, lat, lon, lat] } });
  if (Math.abs(a) <= 180 && Math.abs(b) <= 90) return hit(a, b, `${a}°E, ${b}°N`);
  const grid = await mapGrid().catch(() => null);
  if (!grid) return null;
  const [lon, lat] = grid.toLonLat(a, b);
  const [w, s, e, n] = grid.bbox;
  if (!(lon >= w && lon <= e && lat >= s && lat <= n)) return null;
  return { ...hit(lon, lat, `E ${a} N ${b}`), subtitle: `${grid.name} → ${lon.toFixed(6)}°E, ${lat.toFixed(6)}°N` };
}

export class Search {
  /** hooks.picked(hit, card) is called once a pick has flown and opened; hooks.groundHeight is the
   * city's (ellipsoidal) ground height. */
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
    const place = await coordinateHit(q);
    const answer = place ? { hits: [place] } : await api.search(q);
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
    const flight = hit.location ? flyTo(this.viewer, hit.location, this.hooks.groundHeight) : Promise.resolve();
    this.mark(hit);
    const card = PROFILE_KINDS.has(hit.kind)
      ? await openProfile(hit.kind, hit.id, title)
      : panel(title, `<h3>${escape(hit.label)}</h3><p>${escape(hit.subtitle ?? '')}</p>`);
    await flight;
    this.hooks.picked?.(hit, card);
    return hit;
  }

  /** A pin on typed coordinates (until the next pick). */
  mark(hit) {
    if (this.pin) this.viewer.entities.remove(this.pin);
    this.pin = null;
    if (hit.kind !== 'coordinates') return;
    const clamp = Cesium.HeightReference.CLAMP_TO_GROUND;
    this.pin = this.viewer.entities.add({
      position: Cesium.Cartesian3.fromDegrees(hit.lon, hit.lat),
      point: { pixelSize: 10, color: Cesium.Color.CYAN, outlineColor: Cesium.Color.WHITE, outlineWidth: 2, heightReference: clamp, disableDepthTestDistance: Number.POSITIVE_INFINITY },
      label: { text: hit.label, font: '12px sans-serif', pixelOffset: new Cesium.Cartesian2(0, -18), heightReference: clamp, disableDepthTestDistance: Number.POSITIVE_INFINITY },
    });
  }
}
