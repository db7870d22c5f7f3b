"""The API's request and answer models, one module per area (the OpenAPI document shows them)."""
