"""Hypothesis over every route of the app: any path segment, query and form, logged in or not,
gets an answer below 500 that is a page (never FastAPI's JSON) and carries the headers."""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi.routing import iter_route_contexts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.web.client import login
from tests.web.conftest import MakeWeb

TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
SEGMENT = st.one_of(
    st.sampled_from(["1", "0", "2026-09", "cy", "en", "both", "¹", "١", "%C2%B9", "%00", "%FF",
                     "..", "1.abc", "9" * 40, "A" * 300, "adoption-sibling-relationships"]),
    TEXT.filter(bool),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)
FIELDS = st.sampled_from(["email", "name", "language", "action", "csrf", "address", "reason",
                          "password", "List-Unsubscribe"])
FORM = st.dictionaries(FIELDS, st.one_of(TEXT, st.sampled_from(["cy", "en", "both", "language",
                                                               "unsubscribe"])), max_size=5)
QUERY = st.dictionaries(st.sampled_from(["lang", "notice", "x"]), TEXT, max_size=2)


def fill(template: str, segments: list[str]) -> str:
    """The route's path with each {parameter} replaced by a (percent-encoded) segment."""
    values = iter(segments)
    return re.sub(r"\{[^}]+\}", lambda _: next(values, "1"), template)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(logged_in=st.booleans(), raw=st.lists(SEGMENT, min_size=2, max_size=2), query=QUERY,
       form=FORM)
def test_no_input_on_any_route_gets_a_5xx(make_web: MakeWeb, logged_in: bool, raw: list[str],
                                          query: dict[str, str], form: dict[str, str]) -> None:
    """Each example sends the same drawn segments, query and form to every route."""
    client, _, _ = make_web(login_max_failures=10_000, signup_client_limit_per_hour=10_000)
    if logged_in:
        login(client)
    routes = sorted({(m, r.path or "") for r in iter_route_contexts(client.app.routes)  # type: ignore[attr-defined]
                     for m in (r.methods or ())})
    segments = [s if s.startswith("%") else quote(s, safe="") for s in raw]
    for method, template in routes:
        path = fill(template, segments)
        if method == "GET":
            response = client.get(path, params=query)
        else:
            response = client.post(path, params=query, data=form)
        assert response.status_code < 500, (method, path, response.status_code)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors" in response.headers["content-security-policy"]
        if response.status_code >= 400:
            assert response.headers["content-type"].startswith("text/html"), path
            assert '"detail"' not in response.text
