"""Input built to break the parser or the date arithmetic gets a problem+json 4xx naming the
problem, never a 500 (issue 12: each case below answered 500 before)."""

from __future__ import annotations

import base64

import pytest

from tests.practice import new_couple, new_session
from tests.scenario import CoupleInCare, answers
from tests.test_bad_input import _assert_problem

UNKNOWN_LINK = "/v1/feedback-forms/" + "x" * 43  # well-formed, but no such link
HUGE_INTEGER = "1" * 5000
DEEP_ARRAYS = "[" * 3000 + "]" * 3000
HOSTILE_BODIES = {
    "a 5,000-digit integer": '{"answers": {"heard": ' + HUGE_INTEGER + "}}",
    "arrays nested 3,000 deep": '{"answers": ' + DEEP_ARRAYS + "}",
    "a 5,000-digit integer alone": HUGE_INTEGER,
    "a 5,000-digit number with a fraction": '{"answers": {"heard": ' + HUGE_INTEGER + ".5}}",
    "objects nested 100 deep": '{"a": ' * 100 + "1" + "}" * 100,
}


def _post_json(client, path: str, body: str, headers: dict[str, str] | None = None):
    return client.post(path, data=body, content_type="application/json", headers=headers or {})


# -- bodies: bounded before anything reads them, credential or not ---------------------------


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_a_hostile_body_to_the_partner_form_is_400_before_the_link_is_checked(client, body):
    response = _post_json(client, UNKNOWN_LINK, body)
    _assert_problem(response, 400, "body")
    assert "JSON" in response.json["errors"]["body"][0]


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_a_hostile_body_creating_a_couple_is_400_naming_the_problem(client, admin, body):
    response = _post_json(client, "/v1/couples", body, admin.headers)
    _assert_problem(response, 400, "body")


def test_the_limits_name_what_was_too_big(client):
    digits = _post_json(client, UNKNOWN_LINK, HOSTILE_BODIES["a 5,000-digit integer"])
    deep = _post_json(client, UNKNOWN_LINK, HOSTILE_BODIES["arrays nested 3,000 deep"])
    assert "digits" in digits.json["errors"]["body"][0]
    assert "nested" in deep.json["errors"]["body"][0]


def test_a_number_of_sane_length_still_reaches_the_schema(client, admin):
    body = '{"label": "x", "partners": [], "therapist_id": 12345678901234567890}'
    response = _post_json(client, "/v1/couples", body, admin.headers)
    _assert_problem(response, 422, "therapist_id")


def test_a_hostile_fhir_transaction_bundle_is_a_400_outcome(client, clinic):
    integrator = clinic.integrator("system/*.cu", "system/*.rs")
    for body in (
        HOSTILE_BODIES["arrays nested 3,000 deep"],
        HOSTILE_BODIES["a 5,000-digit integer"],
    ):
        response = client.post(
            "/fhir/R4",
            data=body,
            content_type="application/fhir+json",
            headers=integrator.headers,
        )
        assert response.status_code == 400, response.get_data(as_text=True)
        assert response.json["resourceType"] == "OperationOutcome"


def test_a_cursor_holding_deeply_nested_json_is_400_naming_it(client, admin):
    cursor = base64.urlsafe_b64encode(("[" * 1500 + "]" * 1500).encode()).decode().rstrip("=")
    response = client.get(f"/v1/couples?cursor={cursor}", headers=admin.headers)
    _assert_problem(response, 400, "cursor")


# -- dates: only what every clinic's time zone can convert -------------------------------------


@pytest.fixture
def booked(client, clinic):
    admin, therapist = clinic.staff("admin"), clinic.staff("therapist")
    couple = new_couple(client, admin, therapist.id)
    return admin, couple, new_session(client, admin, couple)


EDGE_INSTANTS = ["9999-12-31T23:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]


@pytest.mark.parametrize("starts_at", EDGE_INSTANTS)
def test_a_session_starting_at_the_edge_of_time_is_422_naming_starts_at(client, booked, starts_at):
    admin, couple, session = booked
    created = client.post(
        "/v1/sessions",
        json={"couple_id": couple["id"], "starts_at": starts_at},
        headers=admin.headers,
    )
    _assert_problem(created, 422, "starts_at")
    moved = client.patch(
        f"/v1/sessions/{session['id']}", json={"starts_at": starts_at}, headers=admin.headers
    )
    _assert_problem(moved, 422, "starts_at")


@pytest.mark.parametrize(
    "query",
    [
        "to=9999-12-31",
        "from=9999-12-31",
        "from=0001-01-01",
        "to=0001-01-01T00:00:00%2B01:00",
        "from=9999-12-31T23:59:59-14:00",
    ],
)
def test_a_session_list_bounded_at_the_edge_of_time_is_400_naming_the_parameter(
    client, booked, query
):
    admin, _couple, _session = booked
    response = client.get(f"/v1/sessions?{query}", headers=admin.headers)
    _assert_problem(response, 400, query.split("=")[0])


@pytest.mark.parametrize(
    "since", ["0001-01-01T00:00:00%2B01:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00Z"]
)
def test_alerts_since_the_edge_of_time_is_400_naming_since(client, admin, since):
    response = client.get(f"/v1/alerts?since={since}", headers=admin.headers)
    _assert_problem(response, 400, "since")


def test_dates_well_inside_the_range_still_filter(client, booked):
    admin, _couple, session = booked
    listed = client.get("/v1/sessions?from=1900-01-01&to=2999-12-31", headers=admin.headers)
    assert [s["id"] for s in listed.json["items"]] == [session["id"]]
    alerts = client.get("/v1/alerts?since=1900-01-01T00:00:00%2B01:00", headers=admin.headers)
    assert alerts.status_code == 200


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00%2B14:00", "9999-12-31T23:59:59-14:00"])
def test_a_fhir_search_at_the_edge_of_time_is_400(client, clinic, since):
    integrator = clinic.integrator("system/*.rs")
    response = client.get(f"/fhir/R4/Patient?_lastUpdated=ge{since}", headers=integrator.headers)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json["resourceType"] == "OperationOutcome"


# -- names are text everywhere they are shown ----------------------------------------------------


def test_a_name_with_dollar_signs_shows_as_written_on_the_chart(client, clinic):
    care = CoupleInCare(
        client,
        clinic,
        partners=[{"display_name": "Ana $x^2$ Lopez"}, {"display_name": "Ben $\\frac{$"}],
    )
    care.session(answers(9), answers(4))
    svg = client.get(f"/v1/couples/{care.id}/alliance.svg", headers=care.therapist.headers)
    assert svg.status_code == 200
    text = svg.get_data(as_text=True)
    assert "Ana $x^2$ Lopez" in text and "Ben $\\frac{$" in text


def test_a_bulk_export_since_the_edge_of_time_is_400(client, clinic):
    integrator = clinic.integrator("system/*.rs")
    response = client.get(
        "/fhir/R4/$export?_since=0001-01-01T00:00:00%2B14:00",
        headers={**integrator.headers, "Prefer": "respond-async"},
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json["resourceType"] == "OperationOutcome"
