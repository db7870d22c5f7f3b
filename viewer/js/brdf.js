// CesiumJS's BRDF look-up table for its PBR lighting, as CesiumJS computes it (scripts/brdf_lut.mjs;
// a test checks that it still matches): 256×256 texels of R, G bytes, rows bottom to top. Requested
// once per page (index.html starts it before CesiumJS is parsed).
const SIZE = 256;

let request = null;

/** The table's bytes, or null when the file cannot be had. */
export function shippedBrdfLut() {
  request ??= fetch('assets/brdf-lut-rg8.bin')
    .then((r) => (r.ok ? r.arrayBuffer() : null))
    .then((buffer) => (buffer?.byteLength === 2 * SIZE * SIZE ? new Uint8Array(buffer) : null))
    .catch(() => null);
  return request;
}

/** Give the scene the shipped table before its first model is drawn. CesiumJS would compute it on
 * the GPU (1024 samples for each of 65,536 texels): milliseconds on a GPU, over a second of CPU in
 * software WebGL. Without the file (or if CesiumJS renames its private generator field) CesiumJS
 * computes it as usual. */
export function useShippedBrdfLut(scene) {
  const { Cesium } = window;
  const generator = scene._brdfLutGenerator;
  return shippedBrdfLut().then((rg) => {
    if (!rg || !generator || generator.colorTexture) return;
    const rgba = new Uint8Array(4 * SIZE * SIZE);
    for (let i = 0; i < SIZE * SIZE; i += 1) {
      rgba[4 * i] = rg[2 * i];
      rgba[4 * i + 1] = rg[2 * i + 1];
      rgba[4 * i + 3] = 255;
    }
    generator._colorTexture = new Cesium.Texture({
      context: scene.context,
      source: { width: SIZE, height: SIZE, arrayBufferView: rgba },
      pixelFormat: Cesium.PixelFormat.RGBA,
      pixelDatatype: Cesium.PixelDatatype.UNSIGNED_BYTE,
      sampler: Cesium.Sampler.NEAREST,
      flipY: false,
    });
  });
}
