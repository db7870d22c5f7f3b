// Finding one's way: home, zoom and compass buttons, a scale bar, the coordinates under the mouse
// (lon/lat, the city's grid, height), camera limits that keep the city on screen, keyboard keys,
// and the view as a small object for bookmarks and share links.
import * as api from './api.js';
import { t } from './i18n.js';
import { loadScript } from './ui.js';

const { Cesium } = window;
const $ = (id) => document.getElementById(id);
const MIN_ZOOM_M = 15; // closest the wheel brings the camera to what is under the mouse
const MAX_ZOOM_EXTENTS = 3; // farthest, in radii of the city's bounding sphere (above the ground)
const ZOOM_STEP = 0.5; // a zoom button moves half the way to what is at the centre of the view
const SCALE_PX = 100; // the scale bar's longest length, in CSS pixels
const NICE = [1, 2, 5];

/** A round length (1, 2 or 5 × 10^n m) no longer than `metres`. */
export function niceLength(metres) {
  const power = 10 ** Math.floor(Math.log10(metres));
  return power * [...NICE].reverse().find((n) => n * power <= metres);
}

const formatMetres = (m) => (m >= 1000 ? `${+(m / 1000).toFixed(2)} km` : `${+m.toFixed(m < 10 ? 1 : 0)} m`);

/** The city's grid (GET /terrain/grid) as proj4 forward/inverse functions, loaded once. */
let gridAnswer = null;
export function mapGrid() {
  gridAnswer ??= Promise.all([api.request('terrain/grid'), loadScript('/vendor/proj4/proj4.js')]).then(([grid]) => {
    const converter = window.proj4(grid.proj4);
    return { ...grid, toGrid: (lon, lat) => converter.forward([lon, lat]), toLonLat: (e, n) => converter.inverse([e, n]) };
  });
  return gridAnswer;
}

/** The camera as plain numbers (degrees, metres above the ellipsoid, radians), rounded for a link. */
export function cameraState(camera) {
  const c = camera.positionCartographic;
  const r = (v, digits) => +v.toFixed(digits);
  return [r(Cesium.Math.toDegrees(c.longitude), 7), r(Cesium.Math.toDegrees(c.latitude), 7), r(c.height, 1), r(camera.heading, 4), r(camera.pitch, 4), r(camera.roll, 4)];
}

export function setCamera(camera, [lon, lat, h, heading, pitch, roll]) {
  camera.setView({ destination: Cesium.Cartesian3.fromDegrees(lon, lat, h), orientation: { heading, pitch, roll } });
}

/** A view (camera, layers shown, selection, open tool) as a URL hash, and back. */
export function viewToHash({ camera, layers, selection, tool }) {
  const params = new URLSearchParams({ camera: camera.join(','), layers: layers.join(',') });
  if (selection) params.set('select', `${selection.layer}/${selection.id}`);
  if (tool) params.set('tool', tool);
  return `#${params}`;
}

export function hashToView(hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const camera = (params.get('camera') ?? '').split(',').map(Number);
  if (camera.length !== 6 || !camera.every(Number.isFinite)) return null;
  const select = params.get('select');
  const slash = select ? select.indexOf('/') : -1;
  return {
    camera,
    layers: (params.get('layers') ?? '').split(',').filter(Boolean),
    selection: slash > 0 ? { layer: select.slice(0, slash), id: select.slice(slash + 1) } : null,
    tool: params.get('tool') || null,
  };
}

const BOOKMARKS = 'cim.bookmarks';

/** Bookmarks kept in this browser: [{name, view}]. */
export const bookmarks = {
  list: () => JSON.parse(localStorage.getItem(BOOKMARKS) ?? '[]'),
  save(list) {
    localStorage.setItem(BOOKMARKS, JSON.stringify(list));
  },
  add(name, view) {
    this.save([...this.list().filter((b) => b.name !== name), { name, view }]);
  },
  remove(name) {
    this.save(this.list().filter((b) => b.name !== name));
  },
};

export class Navigation {
  /** `extent`: the DEM's (GET /terrain/extent), the city the camera is kept on; null without one. */
  constructor(viewer, extent) {
    this.viewer = viewer;
    this.extent = extent;
    this.undulation = extent ? extent.h_ellipsoidal_min - extent.h_orthometric_min : 0;
    this.sphere = extent ? this.citySphere(extent) : null;
    this.readout = null; // {lon, lat, h_orthometric, easting, northing} under the mouse
    this.limit();
    const handler = new Cesium.ScreenSpaceEventHandler(viewer.scene.canvas);
    let pending = null;
    handler.setInputAction((e) => {
      if (!pending) requestAnimationFrame(() => {
        this.showCoordinates(pending);
        pending = null;
      });
      pending = Cesium.Cartesian2.clone(e.endPosition);
    }, Cesium.ScreenSpaceEventType.MOUSE_MOVE);
    viewer.scene.postRender.addEventListener(() => this.onFrame());
  }

  citySphere({ bbox: [w, s, e, n], h_ellipsoidal_min: h }) {
    return Cesium.BoundingSphere.fromRectangle3D(Cesium.Rectangle.fromDegrees(w, s, e, n), Cesium.Ellipsoid.WGS84, h);
  }

  /** The wheel stops short of what is under the mouse and never goes farther than a few city radii. */
  limit() {
    const control = this.viewer.scene.screenSpaceCameraController;
    control.minimumZoomDistance = MIN_ZOOM_M;
    if (this.sphere) control.maximumZoomDistance = Math.max(this.sphere.radius * MAX_ZOOM_EXTENTS, 2000);
  }

  /** Back to the whole city from the south-east, looking down at 43°. */
  home(duration = 0) {
    if (!this.sphere) return;
    const offset = new Cesium.HeadingPitchRange(0, -0.75, this.sphere.radius * 1.6);
    this.viewer.camera.flyToBoundingSphere(this.sphere, { duration, offset });
  }

  /** What the centre of the view looks at (the ground or a feature), else the city's centre. */
  target() {
    const { scene } = this.viewer;
    const centre = new Cesium.Cartesian2(scene.canvas.clientWidth / 2, scene.canvas.clientHeight / 2);
    return (scene.pickPositionSupported && scene.pickPosition(centre)) || scene.globe.pick(scene.camera.getPickRay(centre), scene) || this.sphere?.center;
  }

  /** Zoom in (factor > 0) or out (< 0) towards the centre of the view, inside the limits. */
  zoom(direction) {
    const { camera, screenSpaceCameraController: control } = this.viewer.scene;
    const target = this.target();
    if (!target) return;
    const distance = Cesium.Cartesian3.distance(camera.positionWC, target);
    const next = Math.min(Math.max(direction > 0 ? distance * (1 - ZOOM_STEP) : distance / (1 - ZOOM_STEP), control.minimumZoomDistance), control.maximumZoomDistance);
    camera.zoomIn(distance - next);
  }

  /** Turn the view to face north, about what it looks at. */
  north() {
    const { camera } = this.viewer;
    const target = this.target();
    if (!target) return;
    const range = Cesium.Cartesian3.distance(camera.positionWC, target);
    camera.lookAt(target, new Cesium.HeadingPitchRange(0, camera.pitch, range));
    camera.lookAtTransform(Cesium.Matrix4.IDENTITY);
  }

  /** Move along the ground: forward/back and right/left by a fifth of the height above it. */
  pan(forward, right) {
    const { camera } = this.viewer;
    const step = Math.max(camera.positionCartographic.height - (this.extent?.h_ellipsoidal_min ?? 0), 20) / 5;
    const heading = camera.heading;
    const up = Cesium.Cartesian3.normalize(camera.positionWC, new Cesium.Cartesian3());
    const frame = Cesium.Transforms.eastNorthUpToFixedFrame(camera.positionWC);
    const east = Cesium.Matrix4.getColumn(frame, 0, new Cesium.Cartesian4());
    const northAxis = Cesium.Matrix4.getColumn(frame, 1, new Cesium.Cartesian4());
    const along = (axis, amount) => Cesium.Cartesian3.multiplyByScalar(new Cesium.Cartesian3(axis.x, axis.y, axis.z), amount, new Cesium.Cartesian3());
    const ahead = Cesium.Cartesian3.add(along(northAxis, Math.cos(heading)), along(east, Math.sin(heading)), new Cesium.Cartesian3());
    const side = Cesium.Cartesian3.cross(ahead, up, new Cesium.Cartesian3());
    const move = Cesium.Cartesian3.add(
      Cesium.Cartesian3.multiplyByScalar(ahead, forward * step, new Cesium.Cartesian3()),
      Cesium.Cartesian3.multiplyByScalar(side, right * step, new Cesium.Cartesian3()),
      new Cesium.Cartesian3(),
    );
    camera.position = Cesium.Cartesian3.add(camera.position, move, new Cesium.Cartesian3());
  }

  /** Per frame: the compass needle, the scale bar, the camera height; a camera that left the
   * city's neighbourhood, looks away from it or went below the ground (outside underground mode)
   * goes home. */
  onFrame() {
    const { camera, globe } = this.viewer.scene;
    // only when the camera moved (the scale bar picks the globe twice) or the terrain changed
    const moved = !this.lastView || !Cesium.Matrix4.equalsEpsilon(camera.viewMatrix, this.lastView, 1e-9) || this.tilesLoaded !== globe.tilesLoaded;
    if (!moved) return;
    this.lastView = Cesium.Matrix4.clone(camera.viewMatrix, this.lastView);
    this.tilesLoaded = globe.tilesLoaded;
    const needle = $('compass-needle');
    if (needle) needle.style.transform = `rotate(${-Cesium.Math.toDegrees(camera.heading)}deg)`;
    const height = camera.positionCartographic.height;
    if (this.sphere) {
      const away = Cesium.Cartesian3.distance(camera.positionWC, this.sphere.center);
      const below = !globe.translucency.enabled && height < this.extent.h_ellipsoidal_min - 1;
      const view = camera.frustum.computeCullingVolume(camera.positionWC, camera.directionWC, camera.upWC);
      const outOfSight = view.computeVisibility(this.sphere) === Cesium.Intersect.OUTSIDE;
      if (away > this.sphere.radius * (MAX_ZOOM_EXTENTS + 3) || below || outOfSight) this.home();
    }
    const cameraLabel = $('camera-height');
    if (cameraLabel) cameraLabel.textContent = `${t('camera_height')} ${formatMetres(height - this.undulation)}`;
    this.scaleBar();
  }

  /** A bar of a round length: the ground distance across SCALE_PX pixels at the bottom of the view. */
  scaleBar() {
    const bar = $('scale-bar');
    if (!bar) return;
    const { scene } = this.viewer;
    const y = scene.canvas.clientHeight - 30;
    const x = scene.canvas.clientWidth / 2;
    const pick = (px) => scene.globe.pick(scene.camera.getPickRay(new Cesium.Cartesian2(px, y)), scene);
    const [a, b] = [pick(x), pick(x + SCALE_PX)];
    if (!a || !b) {
      bar.hidden = true;
      return;
    }
    const perPixel = Cesium.Cartesian3.distance(a, b) / SCALE_PX;
    const length = niceLength(perPixel * SCALE_PX);
    bar.hidden = false;
    bar.dataset.metres = String(length);
    bar.dataset.metresPerPixel = String(perPixel);
    bar.querySelector('.bar').style.width = `${(length / perPixel).toFixed(1)}px`;
    bar.querySelector('.label').textContent = formatMetres(length);
  }

  /** The ground (or a feature) under the mouse: lon/lat, grid easting/northing, height. */
  async showCoordinates(position) {
    const label = $('coordinates');
    if (!label || !position) return;
    const { scene } = this.viewer;
    const cartesian = (scene.pickPositionSupported && scene.pickPosition(position)) || scene.globe.pick(scene.camera.getPickRay(position), scene);
    if (!cartesian) {
      label.textContent = '';
      return;
    }
    const c = Cesium.Cartographic.fromCartesian(cartesian);
    const [lon, lat] = [Cesium.Math.toDegrees(c.longitude), Cesium.Math.toDegrees(c.latitude)];
    const grid = await mapGrid().catch(() => null);
    const [easting, northing] = grid ? grid.toGrid(lon, lat) : [NaN, NaN];
    this.readout = { lon, lat, h_orthometric: c.height - this.undulation, easting, northing };
    const gridText = grid ? ` · ${grid.name.split(' /')[0]} E ${easting.toFixed(2)} N ${northing.toFixed(2)}` : '';
    label.textContent = `${lon.toFixed(6)}°E ${lat.toFixed(6)}°N${gridText} · ${t('height')} ${this.readout.h_orthometric.toFixed(1)} m`;
  }
}
