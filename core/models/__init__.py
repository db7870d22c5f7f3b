"""All tables. Import from here so the metadata is complete."""

from core.models.base import Base
from core.models.bim import BimElement, BimModel, BimModelVersion, BimSpatialNode
from core.models.city import Building, DemTile, HouseUnit, Parcel, Road
from core.models.credit import (
    CreditAlert,
    CreditIndicator,
    CreditModel,
    CreditRepair,
    CreditRescoreRequest,
    CreditReview,
    CreditRuleset,
    CreditRun,
    CreditScore,
)
from core.models.divisions import CityExtent, District
from core.models.exports import Approval
from core.models.history import RecordVersion
from core.models.imagery import ImageryLayer
from core.models.live import Alarm, AlarmStep, EventStep, EventTask, SensorRejection, SensorState
from core.models.network import (
    NetworkIssue,
    Pipeline,
    PipeNode,
    Sensor,
    SensorReading,
    TunnelCompartment,
    UtilityTunnel,
)
from core.models.ops import AuditLog, AuditLogHead, EmergencyEvent, Job, Role, User
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
from core.models.review_submission import ReviewAgencyMember, ReviewRoute, ReviewSubmission
from core.models.security import ApiKey, LoginThrottle, RefreshToken
from core.models.supervision import Inspection, SafetyAppraisal

__all__ = [
    "ImageryLayer",
    "Approval",
    "CreditAlert",
    "CreditIndicator",
    "CreditModel",
    "CreditRepair",
    "CreditRescoreRequest",
    "CreditReview",
    "CreditRun",
    "CreditRuleset",
    "CreditScore",
    "ApiKey",
    "Alarm",
    "AlarmStep",
    "AuditLog",
    "AuditLogHead",
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
    "CityExtent",
    "District",
    "DrawingReview",
    "EmergencyEvent",
    "EventStep",
    "EventTask",
    "Enterprise",
    "HouseUnit",
    "Inspection",
    "Job",
    "LoginThrottle",
    "NetworkIssue",
    "Parcel",
    "Penalty",
    "Person",
    "PipeNode",
    "Pipeline",
    "Project",
    "ProjectPerson",
    "Qualification",
    "RecordVersion",
    "RefreshToken",
    "ReviewAgencyMember",
    "ReviewIssue",
    "ReviewRoute",
    "ReviewSubmission",
    "Road",
    "SafetyAppraisal",
    "Role",
    "Sensor",
    "SensorReading",
    "SensorRejection",
    "SensorState",
    "TunnelCompartment",
    "User",
    "UtilityTunnel",
]
