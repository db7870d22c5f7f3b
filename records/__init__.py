"""The four databases (四库: enterprises, people, projects, credit) as a system of record: files in
(CSV, XLSX, JSON Lines) with validation and upserts, single-record writes, and every version kept."""
