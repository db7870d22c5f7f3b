"""The viewer for a guest on a deployment with the default public layers (not the test session's
"every layer public"): the first view loads the public layers only, with no error in the banner, and
marks the others "登录后可见"; after logging in the others load. Expected layers from the registry
and the settings' default, counts by SQL."""

from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import text

from core.registry import registry
from core.settings import Settings
from spatial_api.local_server import free_port, stop
from tests.fixtures_viewer import start_server

PLANNER = ["planner", "planner-demo"]


@pytest.fixture(scope="module")
def guest_view(run_e2e, viewer_city, tmp_path_factory) -> dict:
    public = Settings.model_fields["public_layers"].default
    env = os.environ | {"CIM_PUBLIC_LAYERS": json.dumps(public)}
    port = free_port()
    process = start_server(port, tmp_path_factory.mktemp("viewer-guest") / "serve.log", env=env)
    draped = [layer.name for layer in registry().layers if layer.draped]
    try:
        page = run_e2e(f"http://127.0.0.1:{port}/", script="guest.mjs", login=PLANNER, draped=draped)
    finally:
        stop(process)
    assert all("error" not in step for step in page["steps"].values()), page["steps"]
    assert page["outside"] == []
    return page["steps"] | {"public": public}


def test_a_guest_sees_the_public_layers_without_errors_and_the_rest_marked(guest_view):
    public = set(guest_view["public"])
    listed = {layer.name for layer in registry().layers if layer.tiles or layer.draped}
    guest = guest_view["guest"]
    assert guest["banner"].strip() == "", guest["banner"]
    assert guest["locked"] == sorted(listed - public)
    assert guest["locked_title"] == "登录后可见"
    assert set(guest["requested"]) <= public and "buildings" in guest["tilesets"]
    assert set(guest["draped"]) == public & {layer.name for layer in registry().layers if layer.draped}


def test_after_logging_in_the_other_layers_load(guest_view, database):
    after = guest_view["logged_in"]
    assert after["locked"] == [] and after["banner"].strip() == "", after["banner"]
    with database.connect() as conn:
        for layer in (layer for layer in registry().layers if layer.draped):
            count = conn.execute(text(f"SELECT count(*) FROM {registry().layer(layer.name).from_clause}")).scalar_one()
            assert after["draped"][layer.name] == count, layer.name
    shown_at_first = {layer.name for layer in registry().layers if layer.tiles and not layer.underground}
    assert set(after["requested"]) == shown_at_first
