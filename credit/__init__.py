"""Credit grading, early warning and supervision by grade: rulesets as data, set-based scoring,
event-triggered re-scoring through the job queue, alerts with a closed loop, manual review,
a model score, measures and statistics. Imports ``core`` (and ``gis``) only."""
