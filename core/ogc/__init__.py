"""OGC API Features query building over the layer registry: coordinate reference systems (Part 2),
CQL2 filters, queryables and sortby (Part 3), datetime, and the items query with its count. The
HTTP face (``spatial_api.routers.features``) only parses the request into these and writes answers."""
