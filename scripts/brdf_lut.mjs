// CesiumJS's BRDF look-up table, computed by CesiumJS itself (BrdfLutGenerator) in Debian's headless
// Chromium and read back: 256×256 texels of (scale, bias) as R, G bytes, rows bottom to top, as the
// texture holds them. The viewer ships it (viewer/assets/brdf-lut-rg8.bin) so that software WebGL
// does not spend a second of CPU computing it again on every page load.
// Usage: node scripts/brdf_lut.mjs SERVER_URL OUT_PATH   (a `cim serve`, for /vendor/cesium)
import fs from 'node:fs';
import { chromium } from 'playwright-core';

const [server, out] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--enable-unsafe-swiftshader', '--use-angle=swiftshader', '--no-first-run'],
});
try {
  const page = await browser.newPage();
  await page.goto(new URL('/vendor/cesium/Widgets/widgets.css', server).href);
  await page.addScriptTag({ url: '/vendor/cesium/Cesium.js' });
  const texels = await page.evaluate(() => {
    const { Cesium } = window;
    const div = document.createElement('div');
    document.body.append(div);
    const widget = new Cesium.CesiumWidget(div, { baseLayer: false, terrainProvider: new Cesium.EllipsoidTerrainProvider(), useDefaultRenderLoop: false });
    const { context, frameState } = widget.scene;
    const generator = new Cesium.BrdfLutGenerator();
    generator.update(frameState);
    const framebuffer = new Cesium.Framebuffer({ context, colorTextures: [generator.colorTexture], destroyAttachments: false });
    const rgba = context.readPixels({ x: 0, y: 0, width: 256, height: 256, framebuffer });
    const rg = new Uint8Array(256 * 256 * 2);
    for (let i = 0; i < 256 * 256; i += 1) {
      if (rgba[4 * i + 2] !== 0 || rgba[4 * i + 3] !== 255) throw new Error(`texel ${i}: blue or alpha is not (0, 255)`);
      rg[2 * i] = rgba[4 * i];
      rg[2 * i + 1] = rgba[4 * i + 1];
    }
    return Array.from(rg);
  });
  fs.writeFileSync(out, Buffer.from(texels));
} finally {
  await browser.close();
}
