"""`/bim`: models, versions, elements, the spatial tree and version diffs."""

from __future__ import annotations

from pydantic import Field

from spatial_api.schemas.common import Answer, GeoJSON, QueuedJob, Row


class IngestQueued(QueuedJob):
    status: str = Field(description="queued")
    job_url: str


class Version(Answer):
    version_id: int
    version_no: int
    status: str = Field(description="ingested, published or withdrawn")
    schema_: str = Field(alias="schema", description="IFC schema the file declares")
    file_name: str
    file_bytes: int
    file_sha256: str
    elements: int
    georef: Row = Field(description="the georeferencing report: method, CRS, origin, rotation, warnings...")
    seconds: float | None
    created_at: str
    tileset: str | None = Field(description="the version's 3D Tiles, once published")


class Model(Answer):
    id: int
    project_code: str | None
    name: str


class ModelWithLatest(Model):
    latest: Version | None


class Models(Answer):
    models: list[ModelWithLatest]


class ModelWithVersions(Model):
    versions: list[Version]


class Element(Answer):
    global_id: str
    ifc_class: str
    predefined_type: str | None
    name: str | None
    storey: str | None
    materials: list[str] | None
    z_min: float | None
    z_max: float | None
    properties: Row | None = Field(None, description="property sets (with full=true)")
    quantities: Row | None = Field(None, description="quantity sets (with full=true)")
    geom_hash: str | None = Field(None, description="with full=true")


class ElementWithFootprint(Element):
    footprint: GeoJSON | None


class VersionRef(Answer):
    model_id: int
    version_no: int
    version_id: int


class Elements(VersionRef):
    total: int
    elements: list[Element]


class SpatialNode(Answer):
    global_id: str
    ifc_class: str
    name: str | None
    elevation_m: float | None
    children: list[SpatialNode]
    elements: int | None = Field(None, description="storeys: elements on the storey")


class SpatialTree(VersionRef):
    tree: list[SpatialNode]


class ChangedElement(Answer):
    global_id: str
    geometry: bool = Field(description="whether its geometry changed (else its data)")


class VersionDiff(Answer):
    from_version_id: int | None
    to_version_id: int
    added: list[str]
    removed: list[str]
    changed: list[ChangedElement]


class ModelDiff(VersionDiff):
    from_: int = Field(alias="from", description="version number")
    to: int = Field(description="version number")
