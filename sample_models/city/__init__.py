"""The sample city generator: parametric, seeded, vectorised (see ``generate.generate_city``)."""
