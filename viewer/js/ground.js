// The DEM from the API, requested once per page (index.html starts it before CesiumJS is parsed):
// its extent and one grid of its heights, sampled here for every terrain tile.
import * as api from './api.js';

// The DEM is fetched as GRID_BLOCKS x GRID_BLOCKS blocks of the API's largest heightmap (the
// sample city's 5 m DEM is smooth): terrain tiles then need no request each.
const BLOCK = 129;
const GRID_BLOCKS = 2;

let extentRequest = null;
let gridRequest = null;

/** The DEM's extent ({bbox, h_orthometric_min, h_ellipsoidal_min}), or null without a DEM (the
 * banner says why). */
export function demExtent() {
  extentRequest ??= api.terrainExtent().catch(() => null);
  return extentRequest;
}

/** The DEM over its extent as one grid of ellipsoidal heights (rows north to south), or null
 * without a DEM or when a block failed (the ground then stays flat; the banner says why). */
export function demGrid() {
  gridRequest ??= demExtent()
    .then((extent) => (extent ? fetchGrid(extent) : null))
    .catch(() => null);
  return gridRequest;
}

async function fetchGrid(extent) {
  const [west, south, east, north] = extent.bbox;
  const n = GRID_BLOCKS * (BLOCK - 1) + 1;
  const dx = (east - west) / (n - 1);
  const dy = (north - south) / (n - 1);
  const grid = new Float32Array(n * n);
  const blocks = [];
  for (let bj = 0; bj < GRID_BLOCKS; bj += 1) {
    for (let bi = 0; bi < GRID_BLOCKS; bi += 1) {
      const [c0, r0] = [bi * (BLOCK - 1), bj * (BLOCK - 1)];
      const rect = { west: west + c0 * dx, east: west + (c0 + BLOCK - 1) * dx, north: north - r0 * dy, south: north - (r0 + BLOCK - 1) * dy };
      blocks.push(
        api.terrainHeights(rect, BLOCK, extent.h_orthometric_min).then((heights) => {
          for (let r = 0; r < BLOCK; r += 1) grid.set(heights.subarray(r * BLOCK, (r + 1) * BLOCK), (r0 + r) * n + c0);
        }),
      );
    }
  }
  await Promise.all(blocks);
  return { west, south, east, north, n, dx, dy, grid };
}

/** Bilinear height from the grid at lon/lat (degrees), or `fill` outside it. */
export function heightAt(dem, lon, lat, fill) {
  const fx = (lon - dem.west) / dem.dx;
  const fy = (dem.north - lat) / dem.dy;
  const last = dem.n - 1;
  if (!(fx >= 0 && fy >= 0 && fx <= last && fy <= last)) return fill;
  const [c, r] = [Math.min(Math.floor(fx), last - 1), Math.min(Math.floor(fy), last - 1)];
  const [u, v] = [fx - c, fy - r];
  const g = dem.grid;
  const i = r * dem.n + c;
  return (1 - v) * ((1 - u) * g[i] + u * g[i + 1]) + v * ((1 - u) * g[i + dem.n] + u * g[i + dem.n + 1]);
}
