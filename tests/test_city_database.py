"""The sample city as loaded into PostGIS: counts, valid geometry, pipes under roads at the depth they
claim below the DEM, connected and isolable networks, records, users, and no plain ID number anywhere."""

from __future__ import annotations

import hashlib
import hmac
import re
import subprocess

import networkx as nx
import numpy as np
import pytest
import rasterio
import shapely
from sqlalchemy import Engine, text

from core.privacy import verify_password
from core.settings import get_settings
from core.uscc import is_valid
from sample_models.city.networks import UTILITIES
from sample_models.load import dem_path


def _rows(engine: Engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).all()


def _scalar(engine: Engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def test_counts_match_the_database(database, sample_city):
    for table, rows in sample_city.items():
        if table == "demo_users":
            continue
        assert _scalar(database, f"SELECT count(*) FROM {table}") == rows, table
    assert sample_city["building"] == 400
    assert sample_city["dem_tile"] > 0


def test_every_geometry_is_valid(database, sample_city):
    columns = _rows(
        database,
        "SELECT f_table_name, f_geometry_column FROM geometry_columns "
        "WHERE f_table_schema = current_schema() AND f_table_name = ANY(:tables)",
        tables=[t for t in sample_city if t != "demo_users"],
    )
    assert len(columns) >= 10
    for table, column in columns:
        invalid = _scalar(database, f"SELECT count(*) FROM {table} WHERE NOT ST_IsValid({column})")
        empty = _scalar(database, f"SELECT count(*) FROM {table} WHERE ST_IsEmpty({column})")
        assert (invalid, empty) == (0, 0), f"{table}.{column}"


def test_buildings_stand_in_their_parcels_off_the_roads(database, sample_city):
    outside = _scalar(
        database,
        "SELECT count(*) FROM building b JOIN parcel p ON p.code = b.parcel_code "
        "WHERE NOT ST_CoveredBy(b.footprint, p.geom)",
    )
    on_road = _scalar(database, "SELECT count(*) FROM building b JOIN road r ON ST_Intersects(b.footprint, r.red_line)")
    assert (outside, on_road) == (0, 0)


def test_pipes_run_under_the_roads(database, sample_city):
    off_road = _scalar(
        database,
        "WITH roads AS (SELECT ST_Union(red_line) AS g FROM road) "
        "SELECT count(*) FROM pipeline, roads WHERE NOT ST_CoveredBy(ST_Force2D(pipeline.geom), roads.g)",
    )
    assert off_road == 0


def test_utilities_keep_their_horizontal_separation(database, sample_city):
    """Pipes of different utilities running side by side keep at least 1.5 m apart (they may cross)."""
    azimuth = "ST_Azimuth(ST_StartPoint({0}.geom), ST_EndPoint({0}.geom))"
    too_close = _scalar(
        database,
        "SELECT count(*) FROM pipeline a JOIN pipeline b ON a.utility < b.utility "
        f"AND ST_DWithin(a.geom, b.geom, 1.5) WHERE abs(sin({azimuth.format('a')} - {azimuth.format('b')})) < 0.01",
    )
    side_by_side = _scalar(
        database,
        "SELECT count(*) FROM pipeline a JOIN pipeline b ON a.utility < b.utility "
        f"AND ST_DWithin(a.geom, b.geom, 8) WHERE abs(sin({azimuth.format('a')} - {azimuth.format('b')})) < 0.01",
    )
    assert too_close == 0 and side_by_side > 100


def test_pipes_lie_below_the_dem_at_their_stated_depth(database, sample_city):
    """Ground read from the GeoTIFF with rasterio (nearest pixel) at every vertex: the top of the pipe is below
    it, and the smallest cover is ``depth_m`` (to the top) within what nearest-pixel sampling allows."""
    rows = _rows(database, "SELECT ST_AsBinary(geom), diameter_mm, depth_m, depth_ref, utility FROM pipeline")
    with rasterio.open(dem_path()) as dem:
        for wkb, diameter, depth, depth_ref, utility in rows:
            coords = shapely.get_coordinates(shapely.from_wkb(bytes(wkb)), include_z=True)
            ground = np.array([v[0] for v in dem.sample(coords[:, :2])])
            cover = ground - coords[:, 2] - diameter / 2000
            assert depth_ref == "top"
            assert (cover > 0.3).all(), (utility, cover)
            assert abs(cover.min() - depth) < 0.15, (utility, cover, depth)
            low, high = UTILITIES[utility].cover_m
            assert low - 0.15 <= depth <= high + 1.3, (utility, depth)


def test_each_network_is_one_connected_graph_whose_pipes_end_at_their_nodes(database, sample_city):
    nodes = {
        node_id: (utility, shapely.from_wkb(bytes(wkb)))
        for node_id, utility, wkb in _rows(database, "SELECT id, utility, ST_AsBinary(geom) FROM pipe_node")
    }
    graphs: dict[str, nx.Graph] = {}
    for pipe_id, utility, a, b, wkb in _rows(
        database, "SELECT id, utility, from_node, to_node, ST_AsBinary(geom) FROM pipeline"
    ):
        coords = shapely.get_coordinates(shapely.from_wkb(bytes(wkb)), include_z=True)
        assert nodes[a][0] == nodes[b][0] == utility
        assert np.allclose(coords[0], shapely.get_coordinates(nodes[a][1], include_z=True)[0], atol=1e-3), pipe_id
        assert np.allclose(coords[-1], shapely.get_coordinates(nodes[b][1], include_z=True)[0], atol=1e-3), pipe_id
        graphs.setdefault(utility, nx.Graph()).add_edge(a, b, id=pipe_id)
    assert set(graphs) == set(UTILITIES)
    for utility, graph in graphs.items():
        assert nx.number_connected_components(graph) == 1, utility
        assert graph.number_of_nodes() == sum(1 for u, _ in nodes.values() if u == utility)


@pytest.mark.parametrize("utility", ["water", "gas", "heat"])
def test_closing_valves_isolates_any_burst(database, sample_city, utility):
    """With every valve shut, what stays connected is one crossing or one stretch between two valves."""
    graph = nx.Graph(_rows(database, "SELECT from_node, to_node FROM pipeline WHERE utility = :u", u=utility))
    valves = [
        n for (n,) in _rows(database, "SELECT id FROM pipe_node WHERE utility = :u AND kind = 'valve'", u=utility)
    ]
    assert valves
    graph.remove_nodes_from(valves)
    largest = max(len(c) for c in nx.connected_components(graph))
    assert largest <= 6, largest


def test_water_has_hydrants_and_gravity_networks_manholes(database, sample_city):
    kinds = dict(_rows(database, "SELECT utility || ':' || kind, count(*) FROM pipe_node GROUP BY 1"))
    assert kinds.get("water:hydrant", 0) > 0 and kinds.get("water:valve", 0) > 0
    assert kinds.get("sewer:manhole", 0) > 0 and kinds.get("drain:manhole", 0) > 0
    assert kinds.get("gas:valve", 0) > 0


def test_tunnel_has_three_compartments_and_a_day_of_readings(database, sample_city):
    compartments = _rows(database, "SELECT tunnel_id, name, utilities FROM tunnel_compartment ORDER BY id")
    segments = {c[0] for c in compartments}
    assert len(compartments) == 3 * len(segments) >= 3
    assert {tuple(sorted(c[2])) for c in compartments} == {("telecom", "water"), ("power",), ("gas",)}
    kinds = {k for (k,) in _rows(database, "SELECT DISTINCT kind FROM sensor")}
    assert {"CH4", "H2S", "O2", "temperature", "humidity", "water_level"} <= kinds
    per_sensor = {n for (n,) in _rows(database, "SELECT count(*) FROM sensor_reading GROUP BY sensor_id")}
    assert per_sensor == {144}
    span = _scalar(database, "SELECT max(time) - min(time) FROM sensor_reading")
    assert span.total_seconds() == 143 * 600
    wrong_flags = _scalar(
        database,
        "SELECT count(*) FROM sensor_reading r JOIN sensor s ON s.id = r.sensor_id WHERE r.alarm <> "
        "(coalesce(r.value > s.alarm_above, false) OR coalesce(r.value < s.alarm_below, false))",
    )
    alarms = _scalar(database, "SELECT count(DISTINCT sensor_id) FROM sensor_reading WHERE alarm")
    assert wrong_flags == 0 and 1 <= alarms <= 5


def test_projects_have_their_roles_people_permits_and_filings(database, sample_city):
    missing_roles = _scalar(
        database,
        "SELECT count(*) FROM project WHERE build_unit_uscc IS NULL OR contractor_uscc IS NULL OR "
        "supervisor_uscc IS NULL OR designer_uscc IS NULL OR surveyor_uscc IS NULL",
    )
    assert missing_roles == 0
    wrong_type = _scalar(
        database,
        "SELECT count(*) FROM project p JOIN enterprise c ON c.uscc = p.contractor_uscc "
        "JOIN enterprise s ON s.uscc = p.supervisor_uscc "
        "WHERE c.type NOT IN ('builder', 'municipal') OR s.type <> 'supervision'",
    )
    assert wrong_type == 0
    without_key_people = _scalar(
        database,
        "SELECT count(*) FROM project p WHERE NOT EXISTS (SELECT 1 FROM project_person x "
        "WHERE x.project_code = p.code AND x.role = 'project_manager') OR NOT EXISTS (SELECT 1 FROM project_person x "
        "WHERE x.project_code = p.code AND x.role = 'chief_supervisor')",
    )
    assert without_key_people == 0
    pm_not_of_contractor = _scalar(
        database,
        "SELECT count(*) FROM project_person x JOIN project p ON p.code = x.project_code "
        "JOIN person r ON r.id = x.person_id WHERE x.role = 'project_manager' "
        "AND (r.employer_uscc <> p.contractor_uscc OR r.kind <> 'registered')",
    )
    assert pm_not_of_contractor == 0
    stages = dict(_rows(database, "SELECT stage, count(*) FROM project GROUP BY stage"))
    assert set(stages) == {"approval", "preparation", "construction", "acceptance", "delivered"}
    assert max(stages, key=stages.get) == "delivered"
    early_permits = _scalar(
        database,
        "SELECT count(*) FROM construction_permit c JOIN project p ON p.code = c.project_code "
        "WHERE p.stage IN ('approval', 'preparation')",
    )
    wrong_filings = _scalar(
        database,
        "SELECT count(*) FROM completion_filing f JOIN project p ON p.code = f.project_code "
        "WHERE p.stage NOT IN ('acceptance', 'delivered')",
    )
    unfiled_delivered = _scalar(
        database,
        "SELECT count(*) FROM project p WHERE p.stage = 'delivered' "
        "AND NOT EXISTS (SELECT 1 FROM completion_filing f WHERE f.project_code = p.code)",
    )
    assert (early_permits, wrong_filings, unfiled_delivered) == (0, 0, 0)


def test_enterprise_codes_and_credit_grades_in_the_database(database, sample_city):
    rows = _rows(database, "SELECT uscc, credit_grade, credit_score FROM enterprise")
    assert all(is_valid(uscc) for uscc, _, _ in rows)
    for _, grade, score in rows:
        expected = "A" if score >= 90 else "B" if score >= 75 else "C" if score >= 60 else "D"
        assert grade == expected
    last_grade_differs = _scalar(
        database,
        "SELECT count(*) FROM enterprise e JOIN credit_grade_history h ON h.enterprise_uscc = e.uscc "
        "AND h.graded_on = e.grade_date WHERE h.grade <> e.credit_grade OR h.explanation IS NULL",
    )
    assert last_grade_differs == 0
    assert _scalar(database, "SELECT count(*) FROM credit_record WHERE kind = 'bad'") > 0
    assert _scalar(database, "SELECT count(*) FROM penalty") > 0


def test_building_ground_heights_agree_with_the_imported_dem(database, sample_city):
    from gis.dem import ground_heights

    rows = _rows(
        database,
        "SELECT ST_X(ST_Centroid(footprint)), ST_Y(ST_Centroid(footprint)), ground_h_orthometric FROM building",
    )
    xy = np.array([(x, y) for x, y, _ in rows])
    stored = np.array([h for _, _, h in rows])
    assert np.nanmax(np.abs(ground_heights(xy) - stored)) < 0.01
    assert stored.min() >= 3.0 and stored.max() <= 9.0


def test_demo_users_log_in_with_their_role(database, sample_city):
    users = dict(
        (name, (role, password_hash))
        for name, role, password_hash in _rows(
            database, "SELECT username, role, password_hash FROM app_user WHERE username = ANY(:names)",
            names=["planner", "engineer", "emergency", "admin"],
        )
    )  # fmt: skip
    assert set(users) == {"planner", "engineer", "emergency", "admin"}
    for name, (role, password_hash) in users.items():
        assert role == name
        assert verify_password(f"{name}-demo", password_hash)
        assert not verify_password("wrong", password_hash)


def test_id_card_numbers_never_leave_the_database_unmasked(database, sample_city, sample_city_generated):
    """A full pg_dump of the test database holds no plain ID number of the seed's people; the masked form
    and the salted hash of each are there."""
    url = database.url
    dump = subprocess.run(
        ["/usr/lib/postgresql/15/bin/pg_dump", "-h", url.host, "-p", str(url.port), "-U", url.username, "-d",
         url.database, "--no-owner"],
        capture_output=True, text=True, check=True, env={"PGPASSWORD": url.password or ""},
    ).stdout  # fmt: skip
    plain = sample_city_generated.id_cards.tolist()
    assert "COPY public.person" in dump and len(plain) == sample_city["person"]
    leaked = [number for number in plain if number in dump]
    assert leaked == []
    masked = dict(_rows(database, "SELECT id_card_hash, id_card_masked FROM person"))
    key = get_settings().pii_key.encode()
    for number in plain:
        digest = hmac.new(key, number.encode(), hashlib.sha256).hexdigest()
        assert masked[digest] == number[:6] + "*" * 8 + number[-4:]
        assert re.fullmatch(r"\d{6}\*{8}[\dX]{4}", masked[digest])
