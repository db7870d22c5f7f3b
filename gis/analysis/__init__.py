"""Spatial analyses behind the API: identify, within, incident, excavation, clearance, profile."""
