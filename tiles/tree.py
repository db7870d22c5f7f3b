"""The spatial hierarchy: an explicit quadtree on a fixed grid of the store CRS (cell keys stay
the same from build to build, so a rebuild can tell which tiles changed), split until a cell
holds at most a feature and a byte budget."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ROOT_CELL_M = 2.0**20  # level-0 cells: about 1049 km, origin at the CRS origin


@dataclass
class Node:
    level: int
    ix: int
    iy: int
    children: list[Node] = field(default_factory=list)
    features: np.ndarray | None = None  # leaves only: indices into the layer's features

    @property
    def key(self) -> str:
        return f"{self.level}_{self.ix}_{self.iy}"

    @property
    def size(self) -> float:
        return ROOT_CELL_M / 2**self.level

    def leaves(self) -> list[Node]:
        if self.features is not None:
            return [self]
        return [leaf for child in self.children for leaf in child.leaves()]


def build(xy: np.ndarray, weight: np.ndarray, max_features: int, max_bytes: float, min_size_m: float) -> Node | None:
    """The quadtree over feature centres ``xy`` (store CRS); chains of single children above the
    data are skipped so the root is the smallest cell (or set of cells) holding everything."""
    if not len(xy):
        return None

    def split(level: int, ix: int, iy: int, idx: np.ndarray) -> Node:
        node = Node(level, ix, iy)
        if (len(idx) <= max_features and weight[idx].sum() <= max_bytes) or node.size <= min_size_m:
            node.features = idx
            return node
        child_size = node.size / 2
        cells = np.floor(xy[idx] / child_size).astype(np.int64)
        order = np.lexsort((cells[:, 1], cells[:, 0]))
        idx, cells = idx[order], cells[order]
        bounds = np.r_[0, np.nonzero(np.any(np.diff(cells, axis=0), axis=1))[0] + 1, len(idx)]
        node.children = [
            split(level + 1, int(cells[a, 0]), int(cells[a, 1]), idx[a:b])
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        return node

    cells = np.floor(xy / ROOT_CELL_M).astype(np.int64)
    roots = [
        split(0, int(cx), int(cy), np.nonzero((cells[:, 0] == cx) & (cells[:, 1] == cy))[0])
        for cx, cy in np.unique(cells, axis=0)
    ]
    root = roots[0] if len(roots) == 1 else Node(-1, 0, 0, roots)
    while root.features is None and len(root.children) == 1:
        root = root.children[0]
    return root
