"""Search across the city's records and features: buildings, projects, enterprises, people,
parcels and roads, with Chinese-aware normalisation (see migration 0005) and ranking."""
