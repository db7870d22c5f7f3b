// Underground mode (translucent ground, no camera collision) and the square of an excavation box
// (the pit itself: cut.js).

const { Cesium } = window;

export function setUnderground(viewer, on, groundAlpha = 0.35) {
  const { globe, screenSpaceCameraController } = viewer.scene;
  globe.translucency.enabled = on;
  globe.translucency.frontFaceAlpha = groundAlpha;
  globe.translucency.backFaceAlpha = groundAlpha;
  globe.undergroundColor = Cesium.Color.fromCssColorString('#202830');
  screenSpaceCameraController.enableCollisionDetection = !on;
}

/** Corners (lon, lat) of a square of `size` metres centred on lon/lat, along east and north. */
export function squareAround(lon, lat, size) {
  const frame = Cesium.Transforms.eastNorthUpToFixedFrame(Cesium.Cartesian3.fromDegrees(lon, lat));
  const half = size / 2;
  return [[-half, -half], [half, -half], [half, half], [-half, half]].map(([e, n]) => {
    const p = Cesium.Matrix4.multiplyByPoint(frame, new Cesium.Cartesian3(e, n, 0), new Cesium.Cartesian3());
    const c = Cesium.Cartographic.fromCartesian(p);
    return [Cesium.Math.toDegrees(c.longitude), Cesium.Math.toDegrees(c.latitude)];
  });
}
