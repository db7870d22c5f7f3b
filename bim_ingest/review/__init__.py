"""Digital drawing review: IDS, planning and clash checks, reports, approval."""
