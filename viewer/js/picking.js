// Click a feature (building, BIM element, pipe, node, tunnel compartment) or the ground:
// the side panel shows the API's identify answer.
import * as api from './api.js';
import { t } from './i18n.js';
import { panel, render, escape, loadCardLabels } from './ui.js';

const { Cesium } = window;
const SELECTED = Cesium.Color.YELLOW;

// Records of another layer shown with a feature of a layer the identify endpoint does not answer
// for: {layer: {section: [other layer, its property naming the feature]}} (a compartment's sensors).
const LINKED = { tunnel_compartments: { sensors: ['sensors', 'compartment_id'] } };

/** The item of a non-identifiable layer with the records linked to it (those the role may read). */
async function recordWithLinks(layer, id, options = {}) {
  const links = Object.entries(LINKED[layer] ?? {});
  const [record, ...linked] = await Promise.all([
    api.collectionItem(layer, id, options).then((f) => f.properties),
    ...links.map(([, [other, key]]) =>
      api
        .request(`collections/${other}/items?${new URLSearchParams({ [key]: id, limit: 1000 })}`, { quiet: true })
        .then((c) => c.features.map((f) => f.properties), () => null),
    ),
  ]);
  return { record, ...Object.fromEntries(links.map(([section], i) => [section, linked[i]]).filter(([, rows]) => rows)) };
}

// A tileset is named after its registry layer: the identify endpoint answers for the features of
// identifiable layers; for the others (tunnel compartments) and the elements of a BIM version under
// review (`bim-<version>`) the tile's properties and the OGC API Features item are shown instead.

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
  constructor(viewer, layers) {
    this.viewer = viewer;
    this.layers = layers;
    this.selected = null; // {feature, colour}
    this.last = null; // {layer, id} of the last identified feature
    this.cards = null; // async (element, answer): the UI kit's record card, once main.js sets it
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
      const kind = this.layers.entryOf(layerName)?.name ?? layerName;
      const id = String(picked.getProperty('id'));
      this.select(picked);
      this.last = { layer: kind, id };
      const answer = this.layers.byName[layerName]?.identifiable
        ? await api.identifyFeature(layerName, id)
        : {
            tile: tileProperties(picked),
            ...(await recordWithLinks(kind, id, { quiet: true }).catch(() => ({ record: null }))),
          };
      await loadCardLabels();
      return this.show(`${t(kind)} ${id}`, answer);
    }
    this.select(null);
    const ground = groundAt(scene, position);
    if (!ground) return null;
    this.last = null;
    const answer = await api.identifyAt(ground.lon, ground.lat);
    await loadCardLabels();
    return this.show(`${ground.lon.toFixed(6)}, ${ground.lat.toFixed(6)}`, answer);
  }

  /** Select a feature by its layer and id (a share link's selection): coloured in its tileset
   * (wherever its tile loads) and its record in the side panel. */
  async showFeature(layer, id) {
    this.select(null);
    this.last = { layer, id };
    if (this.layers.isTileset(layer)) this.layers.highlightLayer(layer, { [id]: SELECTED.toCssHexString() });
    const answer = this.layers.byName[layer]?.identifiable
      ? await api.identifyFeature(layer, id)
      : await recordWithLinks(layer, id);
    await loadCardLabels();
    return this.show(`${t(layer)} ${id}`, answer);
  }

  /** The answer in the side panel: the kit's card of tabs, else (no kit) nested sections. */
  async show(title, answer) {
    const empty = !answer || (typeof answer === 'object' && Object.keys(answer).length === 0);
    if (!empty && this.cards) {
      panel(title, '');
      const shown = await this.cards(document.getElementById('panel-body'), answer).then(
        () => true,
        () => false,
      );
      if (shown) return answer;
    }
    panel(title, empty ? `<p>${escape(t('nothing_here'))}</p>` : render(answer));
    return answer;
  }
}
