// Every call the page makes to the server, in one place: paths, shapes, auth, timeouts.
// A failure becomes an ApiError with a message fit to show in the page.

export const API = '/api/v1';
const SLOW_MS = 4000; // after this a "still waiting" notice shows
const TIMEOUT_MS = 30000; // after this the call is abandoned with a message

const listeners = { slow: new Set(), error: new Set() };
// Notifications from before anyone listened (requests start before the page's modules run): kept
// for the first listener of their kind.
const early = { slow: [], error: [] };

export class ApiError extends Error {
  constructor(message, status, url) {
    super(message);
    this.status = status;
    this.url = url;
  }
}

/** Subscribe to "slow" (url, done) and "error" (ApiError) notifications. */
export function on(kind, fn) {
  listeners[kind].add(fn);
  for (const args of early[kind].splice(0)) fn(...args);
}

function notify(kind, ...args) {
  if (!listeners[kind].size) early[kind].push(args);
  for (const fn of listeners[kind]) fn(...args);
}

export const auth = {
  get token() {
    return sessionStorage.getItem('cim.token');
  },
  get user() {
    const raw = sessionStorage.getItem('cim.user');
    return raw ? JSON.parse(raw) : null;
  },
  get refreshToken() {
    return sessionStorage.getItem('cim.refresh');
  },
  set(token, user, refreshToken) {
    sessionStorage.setItem('cim.token', token);
    sessionStorage.setItem('cim.user', JSON.stringify(user));
    if (refreshToken) sessionStorage.setItem('cim.refresh', refreshToken);
  },
  clear() {
    sessionStorage.removeItem('cim.token');
    sessionStorage.removeItem('cim.user');
    sessionStorage.removeItem('cim.refresh');
  },
};

// Access tokens last minutes: on a 401 the refresh token (single use) buys a new pair, once for all
// requests waiting at the time; when that fails the session is over.
let refreshing = null;
function refreshSession() {
  refreshing ??= (async () => {
    try {
      const response = await fetch(`${API}/auth/refresh`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ refresh_token: auth.refreshToken }),
      });
      if (!response.ok) throw new Error(String(response.status));
      const answer = await response.json();
      auth.set(answer.access_token, { ...auth.user, role: answer.role }, answer.refresh_token);
      return true;
    } catch {
      auth.clear();
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

async function problemMessage(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    return body.detail || body.title || text;
  } catch {
    return text.slice(0, 200) || response.statusText;
  }
}

/** fetch with the token, a slow-notice, a timeout and problem+json errors. */
export async function request(path, options = {}) {
  const { method = 'GET', body, form, json, raw = false, quiet = false, retried = false } = options;
  const url = path.startsWith('/') ? path : `${API}/${path}`;
  const headers = {};
  if (auth.token) headers.Authorization = `Bearer ${auth.token}`;
  let payload = body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(json);
  } else if (form) {
    payload = new URLSearchParams(form);
  }
  const controller = new AbortController();
  const slow = setTimeout(() => notify('slow', url, false), SLOW_MS);
  const timeout = setTimeout(() => controller.abort(), TIMEOUT_MS);
  try {
    let response;
    try {
      response = await fetch(url, { method, headers, body: payload, signal: controller.signal });
    } catch (exc) {
      const why = exc.name === 'AbortError' ? `no answer within ${TIMEOUT_MS / 1000} s` : 'server unreachable';
      throw new ApiError(`${method} ${url}: ${why}`, 0, url);
    }
    if (response.status === 401 && auth.refreshToken && !retried && (await refreshSession())) {
      return request(path, { ...options, retried: true });
    }
    if (!response.ok) {
      throw new ApiError(`${method} ${url}: ${response.status} ${await problemMessage(response)}`, response.status, url);
    }
    if (raw) return response;
    const type = response.headers.get('content-type') || '';
    return type.includes('json') ? response.json() : response.text();
  } catch (exc) {
    if (!quiet) notify('error', exc);
    throw exc;
  } finally {
    clearTimeout(slow);
    clearTimeout(timeout);
    notify('slow', url, true);
  }
}

const qs = (params) => new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null));

// --- auth
export async function login(username, password) {
  const answer = await request('auth/token', { method: 'POST', form: { username, password } });
  auth.set(answer.access_token, { username, role: answer.role }, answer.refresh_token);
  return auth.user;
}

/** Whether single sign-on is configured: {enabled, login_url}. */
export const ssoConfig = () => request('auth/oidc', { quiet: true });

// --- the layer registry and vocabularies (asked once, early: index.html starts it), tiles
let registryAnswer = null;
export const layerRegistry = () => (registryAnswer ??= request('layers'));
export const tilesetUrl = (layer) => `${API}/tiles/${layer}/tileset.json`;

// --- ground
export const terrainExtent = () => request(`terrain/extent`);
export async function terrainHeights(rect, size, fillOrthometric) {
  const params = qs({ ...rect, size, fill_h_orthometric: fillOrthometric });
  const response = await request(`terrain/heights?${params}`, { raw: true });
  return new Float32Array(await response.arrayBuffer());
}
/** Every feature of an OGC API Features collection as one FeatureCollection: the first page's
 * numberMatched says how many pages follow, and they are all asked for at once. */
export async function collectionItems(collection, params = {}) {
  const limit = 1000;
  const page = (offset) => request(`collections/${collection}/items?${qs({ limit, ...params, offset })}`);
  const first = await page(0);
  const offsets = [];
  for (let offset = limit; offset < first.numberMatched; offset += limit) offsets.push(offset);
  const rest = await Promise.all(offsets.map(page));
  return { type: 'FeatureCollection', features: [first, ...rest].flatMap((p) => p.features) };
}
export const collectionItem = (collection, id, options = {}) =>
  request(`collections/${collection}/items/${encodeURIComponent(id)}`, options);

// --- manage by map
export const identifyAt = (lon, lat) => request(`query/identify?${qs({ lon, lat })}`);
export const identifyFeature = (layer, id) => request(`query/identify?${qs({ layer, id })}`);
export const within = (polygon) => request('query/within', { method: 'POST', json: polygon });
export const thematic = (layer, theme) => request(`thematic/${layer}?${qs({ theme })}`);

// --- search and profiles (a profile comes as the server's record card: one formatting, one labelling)
export const search = (q, limit = 8) => request(`search?${qs({ q, limit })}`, { quiet: true });
export const profileCard = (kind, id) => request(`profiles/${kind}/${encodeURIComponent(id)}?f=card`);
export const profilePage = (kind, id) => request(`profiles/${kind}/${encodeURIComponent(id)}?f=html`);

// --- analyses
export const incident = (params) => request('analysis/incident', { method: 'POST', json: params });
export const excavation = (area, depth_m) => request('analysis/excavation', { method: 'POST', json: { area, depth_m } });
export const profile = (coordinates) =>
  request(`analysis/profile?${qs({ line: coordinates.map((c) => `${c[0]},${c[1]}`).join(';') })}`);

// --- BIM review: upload with progress (XHR: fetch cannot report upload progress), then poll the job
/** `placement`: {crs, origin} placing the model by hand (the API's override), or null. */
export function uploadReview(file, projectCode, onProgress, placement = null) {
  return new Promise((resolve, reject) => {
    const url = `${API}/reviews`;
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    if (auth.token) xhr.setRequestHeader('Authorization', `Bearer ${auth.token}`);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      let body;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = {};
      }
      if (xhr.status >= 200 && xhr.status < 300) return resolve(body);
      const error = new ApiError(`POST ${url}: ${xhr.status} ${body.detail || xhr.statusText}`, xhr.status, url);
      notify('error', error);
      reject(error);
    };
    xhr.onerror = () => {
      const error = new ApiError(`POST ${url}: server unreachable`, 0, url);
      notify('error', error);
      reject(error);
    };
    const data = new FormData();
    data.append('file', file);
    data.append('project', projectCode);
    if (placement) {
      data.append('crs', placement.crs);
      data.append('origin', placement.origin);
    }
    xhr.send(data);
  });
}
export const job = (id) => request(`jobs/${id}`);
export const review = (id) => request(`reviews/${id}`);
export const annotateIssue = (reviewId, issueId, note) => request(`reviews/${reviewId}/issues/${issueId}`, { method: 'PATCH', json: note });
export const decideReview = (reviewId, action, comment) => request(`reviews/${reviewId}/decision`, { method: 'POST', json: { action, comment } });
/** The review's report as a file: `report.html` or `report.bcf` (read with the session's token). */
export const reviewFile = (reviewId, name) => request(`reviews/${reviewId}/${name}`, { raw: true });
