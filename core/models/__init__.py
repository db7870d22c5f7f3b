"""All tables. Import from here so the metadata is complete."""

from core.models.base import Base
from core.models.bim import BimElement, BimModel, BimModelVersion, BimSpatialNode
from core.models.city import Building, DemTile, HouseUnit, Parcel, Road
from core.models.network import (
    NetworkIssue,
    Pipeline,
    PipeNode,
    Sensor,
    SensorReading,
    TunnelCompartment,
    UtilityTunnel,
)
from core.models.ops import AuditLog, EmergencyEvent, Job, Role, User
from core.models.records import (
    Complaint,
    CompletionFiling,
    ConstructionPermit,
    CreditGradeHistory,
    CreditRecord,
    Enterprise,
    Penalty,
    Person,
    Project,
    ProjectPerson,
    Qualification,
)
from core.models.review import DrawingReview, ReviewIssue

__all__ = [
    "AuditLog",
    "Base",
    "BimElement",
    "BimModel",
    "BimModelVersion",
    "BimSpatialNode",
    "Building",
    "CompletionFiling",
    "Complaint",
    "ConstructionPermit",
    "CreditGradeHistory",
    "CreditRecord",
    "DemTile",
    "DrawingReview",
    "EmergencyEvent",
    "Enterprise",
    "HouseUnit",
    "Job",
    "NetworkIssue",
    "Parcel",
    "Penalty",
    "Person",
    "PipeNode",
    "Pipeline",
    "Project",
    "ProjectPerson",
    "Qualification",
    "ReviewIssue",
    "Road",
    "Role",
    "Sensor",
    "SensorReading",
    "TunnelCompartment",
    "User",
    "UtilityTunnel",
]
