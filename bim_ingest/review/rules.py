"""The review's rule ids, limits and tolerances in one place."""

from __future__ import annotations

# Rule ids (ReviewIssue.rule); IDS rules are "ids:<specification name>".
INSIDE_PARCEL = "planning.inside_parcel"
SETBACK = "planning.setback"
HEIGHT = "planning.height"
PLOT_RATIO = "planning.plot_ratio"
DENSITY = "planning.density"
NO_PARCEL = "planning.parcel"
PLACEMENT = "planning.placement"
NO_GROUND = "planning.ground"
CLASH_INTERNAL = "clash.internal"
CLASH_PIPELINE = "clash.pipeline"
CLASH_TUNNEL = "clash.tunnel"
IDS_PREFIX = "ids:"

ERROR, WARNING = "error", "warning"

# Setback from the road red line when the parcel does not set one (m).
DEFAULT_SETBACK_M = 5.0
# Horizontal clearance between a building's foundations or basement and a buried pipe's outer
# wall (m), after GB 50289-2016 table 4.1.9 (gas: medium pressure A; water: DN > 200).
PIPE_CLEARANCE_M = {
    "water": 1.0,
    "drain": 2.5,
    "sewer": 2.5,
    "gas": 1.5,
    "heat": 3.0,
    "power": 0.6,
    "telecom": 1.0,
    "streetlight": 0.6,
}
# Clearance between the model and the outer faces of a utility tunnel (m).
TUNNEL_CLEARANCE_M = 1.0

# Geometry tolerances (m): survey noise and float rounding are not defects.
PLANNING_TOLERANCE_M = 0.01
# Penetration below which touching elements of two disciplines are not a clash (ifcclash intersection mode).
CLASH_TOLERANCE_M = 0.01
# A storey counts in the floor area when its elements rise more than this above the ground.
ABOVE_GROUND_M = 1.0
# Roads whose red line is farther than this from the parcel are not setback candidates.
ROAD_SEARCH_M = 200.0

# Disciplines for the in-model clash (ifcopenshell selector syntax).
STRUCTURE = "IfcBeam, IfcColumn, IfcFooting, IfcPile, IfcMember"
MEP = "IfcDistributionElement"
ARCHITECTURE = (
    "IfcElement, ! IfcBeam, ! IfcColumn, ! IfcFooting, ! IfcPile, ! IfcMember, ! IfcDistributionElement,"
    " ! IfcFeatureElement, ! IfcFurnishingElement, ! IfcVirtualElement"
)
DISCIPLINE_PAIRS = (
    ("architecture", ARCHITECTURE, "structure", STRUCTURE),
    ("architecture", ARCHITECTURE, "mep", MEP),
    ("structure", STRUCTURE, "mep", MEP),
)
