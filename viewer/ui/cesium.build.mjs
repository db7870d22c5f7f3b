// The viewer's own CesiumJS bundle, made by `make ui` into viewer/ui/dist-cesium (not committed) and
// served at /vendor/cesium-viewer/: only the names the viewer's modules (viewer/js) and the in-page
// test drivers (tests/e2e) use, from npm's cesium, bundled and minified by esbuild with a gzip copy
// beside it as npm's build has. Workers, Assets and the widgets' style sheet stay the stock build's
// (/vendor/cesium/, window.CESIUM_BASE_URL).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { build } from 'esbuild';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const SOURCES = [here('../js'), here('../../tests/e2e')];
const OUT = here('dist-cesium');

const exported = new Set(Object.keys(createRequire(import.meta.url)('cesium')));
const used = new Set();
for (const dir of SOURCES) {
  for (const name of fs.readdirSync(dir).filter((n) => /\.m?js$/.test(n))) {
    for (const [, symbol] of fs.readFileSync(`${dir}/${name}`, 'utf8').matchAll(/\bCesium\.(\w+)/g)) {
      if (exported.has(symbol)) used.add(symbol);
    }
  }
}

fs.rmSync(OUT, { recursive: true, force: true });
await build({
  stdin: { contents: `export { ${[...used].sort().join(', ')} } from 'cesium';`, resolveDir: here('.') },
  bundle: true,
  format: 'iife',
  globalName: 'Cesium',
  minify: true,
  target: 'es2022',
  legalComments: 'eof',
  logLevel: 'warning',
  outfile: `${OUT}/Cesium.js`,
});
// Reference links in comment lines (CesiumJS's shader sources keep theirs) dropped: the viewer names no outside host.
const COMMENTED_LINK = /^(\s*(?:\/\/|\*|\/\*).*?)\s*https?:\/\/[^\s`'"\\]+/gm;
// And in code: the no-WebGL messages send the user to a web site (offline, say what to do instead); the ESRI,
// MapInfo and OGC (WFS, GML) namespaces only recognise GetFeatureInfo answers of WMS servers, which the offline
// viewer never asks; the old-browser JSON message points to a download; Google Earth Enterprise's credit links to
// Google (the viewer builds no such provider; its logo stays).
const IN_CODE = [
  [/Visit <a href="http:\/\/get\.webgl\.org">http:\/\/get\.webgl\.org<\/a> to verify/g, 'Check'],
  [/Visit http:\/\/get\.webgl\.org\./g, 'Use a browser and graphics driver with WebGL enabled.'],
  [/"http:\/\/www\.esri\.com\/wms"/g, '"urn:x-esri:wms"'],
  [/"http:\/\/www\.mapinfo\.com\/mxp"/g, '"urn:x-mapinfo:mxp"'],
  [/, downloadable from http:\/\/www\.json\.org\/json2\.js/g, ''],
  [/<a href="http:\/\/www\.google\.com\/enterprise\/mapsearth\/products\/earthenterprise\.html">/g, '<a>'],
  [/"http:\/\/www\.opengis\.net\/(wfs|gml)"/g, '"urn:x-ogc:$1"'],
  // and the credits and tooltips of imagery providers the viewer never builds: their text stays, not their links
  [/<a href="http:\/\/www\.openstreetmap\.org\/copyright">/g, '<a>'],
  [/\nhttp:\/\/www\.(openstreetmap\.org|naturalearthdata\.com\/)`/g, '`'],
];
// Any other address's host (ion's and Azure Maps' default servers, the Google credit's image, providers'
// attribution links, ...; the W3C's XML namespaces aside) becomes the reserved offline.invalid (RFC 6761: it
// never resolves), so the bundle names no outside host: a provider the viewer never builds fails at once offline.
const OUTSIDE_HOST = /\b(https?):\/\/(?!www\.w3\.org\/)(?:[a-z0-9-]+\.)+[a-z]{2,}(?::\d+)?/gi;
let bundle = fs.readFileSync(`${OUT}/Cesium.js`, 'utf8').replace(COMMENTED_LINK, '$1');
for (const [pattern, replacement] of IN_CODE) {
  if (!pattern.test(bundle)) throw new Error(`CesiumJS changed: ${pattern} not in the bundle; review the outside links`);
  bundle = bundle.replace(pattern, replacement);
}
bundle = bundle.replace(OUTSIDE_HOST, '$1://offline.invalid');
fs.writeFileSync(`${OUT}/Cesium.js`, bundle);
fs.writeFileSync(`${OUT}/Cesium.js.gz`, zlib.gzipSync(bundle, { level: 9 }));
