"""The admin page in Debian's Chromium (playwright-core): an admin logs in, creates a user with a role
and a district, and disables it; the database and the API agree with what the page shows, and the
labels are Chinese, the roles' taken from the vocabulary."""

from __future__ import annotations

import uuid

from core import vocab
from tests.fixtures_security import API, STRONG

DISTRICT = "320411"


def test_create_and_disable_a_user(live_server, run_e2e, client, admin_headers, rows):
    ring = [[119.0, 31.0], [121.0, 31.0], [121.0, 33.0], [119.0, 33.0], [119.0, 31.0]]
    body = {"name": "新北区", "geometry": {"type": "Polygon", "coordinates": [ring]}}
    assert client.put(f"{API}/admin/districts/{DISTRICT}", json=body, headers=admin_headers).status_code == 200
    username = f"page{uuid.uuid4().hex[:8]}"
    user = {"username": username, "password": STRONG, "role": "engineer", "district": DISTRICT}
    page = run_e2e(
        f"{live_server}/admin.html", script="admin.mjs", timeout_s=180, admin=["admin", "admin-demo"], user=user
    )
    assert "error" not in page, page
    assert page["console_errors"] == [] and page["outside"] == []
    assert page["heading"] == "用户与角色管理"
    roles = {e.code: e.label.zh for e in vocab.get("roles").entries}
    assert dict(page["role_options"]) == {code: zh for code, zh in roles.items() if code != "public"}
    assert [DISTRICT, "新北区"] in page["district_options"]
    assert page["created"]["role"] == "engineer" and page["created"]["state"] == "启用"
    assert username in page["created"]["message"]
    assert page["disabled"] == {"state": "已停用", "button": "启用"}
    stored = rows("SELECT role, active, districts FROM app_user WHERE username = :u", u=username)
    assert stored == [{"role": "engineer", "active": False, "districts": [DISTRICT]}]
    refused = client.post(f"{API}/auth/token", data={"username": username, "password": STRONG})
    assert refused.status_code == 401
