// Imported imagery (`cim gis import-imagery`; the demo's is the DEM's hillshade) on the globe, as
// XYZ tiles in Web Mercator from /api/v1/imagery: loaded after the first full view, never before it.
const { Cesium } = window;

/** Add every imported imagery layer to the globe; resolves with their names. */
export async function addImagery(viewer) {
  const response = await fetch('/api/v1/imagery');
  if (!response.ok) return [];
  const layers = await response.json();
  for (const layer of layers) {
    const [w, s, e, n] = layer.bounds;
    const provider = new Cesium.UrlTemplateImageryProvider({
      url: layer.tiles,
      tilingScheme: new Cesium.WebMercatorTilingScheme(),
      rectangle: Cesium.Rectangle.fromDegrees(w, s, e, n),
      maximumLevel: layer.maxzoom,
      tileWidth: 256,
      tileHeight: 256,
    });
    viewer.imageryLayers.addImageryProvider(provider);
  }
  return layers.map((l) => l.name);
}
