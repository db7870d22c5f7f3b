// The viewer's api.js against a running server, outside the browser: sessionStorage is a Map, fetch
// is Node's own with the server's address in front of the page-relative URLs. Logs in, spoils the
// access token, and checks that the next request refreshes the session and succeeds; then spoils
// the refresh token too and checks that the session ends. Prints one JSON object.
const base = process.argv[2];
const store = new Map();
globalThis.sessionStorage = {
  getItem: (k) => (store.has(k) ? store.get(k) : null),
  setItem: (k, v) => store.set(k, String(v)),
  removeItem: (k) => store.delete(k),
};
const nodeFetch = globalThis.fetch;
globalThis.fetch = (url, init) => nodeFetch(new URL(url, base), init);
const api = await import('../../viewer/js/api.js');

await api.login('planner', 'planner-demo');
const first = api.auth.refreshToken;
sessionStorage.setItem('cim.token', 'spoiled');
const me = await api.request('auth/me', { quiet: true });
const refreshed = { me, new_refresh: api.auth.refreshToken !== first && !!api.auth.refreshToken };
sessionStorage.setItem('cim.token', 'spoiled');
sessionStorage.setItem('cim.refresh', 'spoiled-too');
let ended;
try {
  await api.request('auth/me', { quiet: true });
  ended = { status: 200 };
} catch (exc) {
  ended = { status: exc.status, token: api.auth.token, refresh: api.auth.refreshToken };
}
console.log(JSON.stringify({ refreshed, ended }));
