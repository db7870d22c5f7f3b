"""A bounded schemathesis run over the whole OpenAPI, anonymous and with a token: no answer is a 5xx.
The token is a fresh admin's (so logging out or changing a password revokes only it); a few examples
per operation keep the run within about two minutes. Every 5xx is collected, so one run names all."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from sqlalchemy import text

from tests.fixtures_security import bearer, login

EXAMPLES = 2


# Operations that end the caller's sessions when they succeed: the token is renewed after them.
REVOKING = ("/auth/logout", "/auth/password")
CREDENTIALS = ("authorization", "x-api-key")


@pytest.fixture(scope="module")
def fuzz_token(client, new_user) -> dict[str, str]:
    """The headers with a fresh admin's token, renewed in place by ``renew``."""
    username, password = new_user("admin")
    headers = bearer(login(client, username, password)["access_token"])
    headers["renew"] = lambda: headers.update(bearer(login(client, username, password)["access_token"]))
    return headers


@contextlib.asynccontextmanager
async def _no_lifespan(app):
    yield  # the session's client runs the queue worker; a second one would close its pool


@pytest.fixture
def forget_fuzzed_logins(database) -> Iterator[None]:
    """The fuzzed logins fail (made-up names and passwords) and would lock the test client's address
    out for the tests after this one: their throttle rows go when it ends."""
    yield
    with database.begin() as conn:
        conn.execute(text("DELETE FROM login_throttle"))


def test_no_5xx_anywhere(database, sample_city, fuzz_token, forget_fuzzed_logins):
    from spatial_api.app import create_app

    app = create_app()
    app.router.lifespan_context = _no_lifespan
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    calls = 0
    answered: Counter[tuple[bool, int]] = Counter()  # (with a token, status)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 100, "the whole API is fuzzed"
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case) -> None:
            nonlocal calls
            # Only the credentials given here: none, or the token (not what schemathesis makes up for them).
            case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() not in CREDENTIALS}
            token = {"Authorization": fuzz_token["Authorization"]}
            for headers in ({}, token):
                response = case.call(headers=headers)
                if headers and response.status_code < 300 and case.formatted_path.endswith(REVOKING):
                    fuzz_token["renew"]()
                calls += 1
                answered[bool(headers), response.status_code] += 1
                if response.status_code >= 500:
                    who = "with a token" if headers else "anonymous"
                    failures.append(
                        f"{response.status_code} {case.method} {case.formatted_path} {who}: "
                        f"{response.text[:200]}\n  {case.as_curl_command()}"
                    )

        run()
    assert calls >= 2 * len(operations)
    # The token is accepted: fewer 401s with it than without, and both kinds of caller get answers.
    assert answered[False, 401] > answered[True, 401] and answered[True, 200] and answered[False, 200], answered
    assert not failures, f"{len(failures)} 5xx in {calls} calls:\n" + "\n".join(failures[:40])
