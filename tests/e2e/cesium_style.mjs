// Evaluates a 3D Tiles style with CesiumJS's own Cesium3DTileStyle, outside the browser. Reads
// {style, features: [{property: value}]} on stdin; prints per feature {rgba: [0-255 x3], alpha, show}.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const Cesium = createRequire(import.meta.url)('cesium');
const { style, features } = JSON.parse(readFileSync(0, 'utf8'));
const tileStyle = new Cesium.Cesium3DTileStyle(style);
const out = features.map((properties) => {
  const feature = { getPropertyInherited: (name) => properties[name] };
  const colour = tileStyle.color.evaluateColor(feature, new Cesium.Color());
  return { rgb: colour.toBytes().slice(0, 3), alpha: colour.alpha, show: tileStyle.show.evaluate(feature) };
});
console.log(JSON.stringify(out));
