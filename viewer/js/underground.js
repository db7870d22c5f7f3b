// Underground mode (translucent ground, no camera collision) and an excavation box cut into it.
import * as api from './api.js';
import { panel, render } from './ui.js';
import { t } from './i18n.js';

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

export class Excavation {
  constructor(viewer) {
    this.viewer = viewer;
    this.entities = [];
  }

  clear() {
    for (const e of this.entities) this.viewer.entities.remove(e);
    this.entities = [];
    this.viewer.scene.globe.clippingPolygons = undefined;
  }

  /** Cut a box of `size` m and `depth_m` at a ground point; list what the API says lies in it. */
  async dig(ground, size = 40, depth_m = 6) {
    this.clear();
    const corners = squareAround(ground.lon, ground.lat, size);
    const positions = corners.map(([lon, lat]) => Cesium.Cartesian3.fromDegrees(lon, lat));
    this.viewer.scene.globe.clippingPolygons = new Cesium.ClippingPolygonCollection({
      polygons: [new Cesium.ClippingPolygon({ positions })],
    });
    const top = ground.h;
    const bottom = top - depth_m;
    const ring = [...corners, corners[0]];
    this.entities.push(
      this.viewer.entities.add({
        wall: {
          positions: Cesium.Cartesian3.fromDegreesArray(ring.flat()),
          minimumHeights: ring.map(() => bottom),
          maximumHeights: ring.map(() => top),
          material: Cesium.Color.fromCssColorString('#a0785a').withAlpha(0.8),
        },
      }),
      this.viewer.entities.add({
        polygon: {
          hierarchy: Cesium.Cartesian3.fromDegreesArray(corners.flat()),
          height: bottom,
          perPositionHeight: false,
          material: Cesium.Color.fromCssColorString('#6b5040'),
        },
      }),
    );
    const answer = await api.excavation({ type: 'Polygon', coordinates: [ring] }, depth_m);
    panel(t('excavate'), render(answer));
    return answer;
  }
}
