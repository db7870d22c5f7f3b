"""CIM Server's spatial API: database models, migrations, the FastAPI app and the `cim` command."""
