// Click a feature (building, BIM element, pipe, node, tunnel compartment) or the ground:
// the side panel shows the API's identify answer.
import * as api from './api.js';
import { t } from './i18n.js';
import { panel, render, escape } from './ui.js';

const { Cesium } = window;
const SELECTED = Cesium.Color.YELLOW;

// What the identify endpoint calls each tileset's features (the city's BIM layer: its published
// elements, with their model's project); tunnel compartments and the elements of a version under
// review are not identified by the API: their OGC API Features item is shown instead.
const IDENTIFY_LAYER = { buildings: 'buildings', pipelines: 'pipelines', nodes: 'pipe_nodes', bim: 'bim_elements' };
const COLLECTION = { tunnels: 'tunnel_compartments', bim: 'bim_elements' };
const tilesetKind = (layer) => (layer.startsWith('bim') ? 'bim' : layer);

/** Lon/lat in degrees of the ground (or a feature) under a screen position, or null. */
export function groundAt(scene, position) {
  const cartesian =
    (scene.pickPositionSupported && scene.pickPosition(position)) ||
    scene.globe.pick(scene.camera.getPickRay(position), scene);
  if (!cartesian) return null;
  const c = Cesium.Cartographic.fromCartesian(cartesian);
  return { lon: Cesium.Math.toDegrees(c.longitude), lat: Cesium.Math.toDegrees(c.latitude), h: c.height };
}

/** The metadata a tile carries for a feature. */
function tileProperties(feature) {
  return Object.fromEntries(feature.getPropertyIds().map((name) => [name, feature.getProperty(name)]));
}

export class Picker {
  constructor(viewer) {
    this.viewer = viewer;
    this.selected = null; // {feature, colour}
    this.last = null; // {layer, id} of the last identified feature
  }

  select(feature) {
    if (this.selected) {
      try {
        this.selected.feature.color = this.selected.colour;
      } catch {
        // the tile was unloaded meanwhile
      }
    }
    this.selected = feature ? { feature, colour: Cesium.Color.clone(feature.color) } : null;
    if (feature) feature.color = SELECTED;
  }

  /** Identify what is under a screen position and show it in the side panel. */
  async identify(position) {
    const { scene } = this.viewer;
    const picked = scene.pick(position);
    if (picked instanceof Cesium.Cesium3DTileFeature && picked.getProperty('id') !== undefined) {
      const layerName = picked.tileset.layerName ?? '';
      const kind = tilesetKind(layerName);
      const id = String(picked.getProperty('id'));
      this.select(picked);
      this.last = { layer: kind, id };
      const answer = IDENTIFY_LAYER[layerName]
        ? await api.identifyFeature(IDENTIFY_LAYER[layerName], id)
        : {
            tile: tileProperties(picked),
            record: await api.collectionItem(COLLECTION[kind], id, { quiet: true }).then((f) => f.properties).catch(() => null),
          };
      return this.show(`${t(kind)} ${id}`, answer);
    }
    this.select(null);
    const ground = groundAt(scene, position);
    if (!ground) return null;
    this.last = null;
    return this.show(`${ground.lon.toFixed(6)}, ${ground.lat.toFixed(6)}`, await api.identifyAt(ground.lon, ground.lat));
  }

  show(title, answer) {
    const empty = !answer || (typeof answer === 'object' && Object.keys(answer).length === 0);
    panel(title, empty ? `<p>${escape(t('nothing_here'))}</p>` : render(answer));
    return answer;
  }
}
