"""Input built to break the parser or the date arithmetic gets a problem+json 4xx naming the
problem, never a 500 (issue 12: each case below answered 500 before)."""

from __future__ import annotations

import base64

import pytest

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


def test_ordinary_bodies_near_the_limits_still_work(client, clinic):
    care = CoupleInCare(client, clinic)
    care.session(answers(8), answers(9))
    body = (
        '{"label": "x", "partners": [{"display_name": "A"}], "therapist_id": 12345678901234567890}'
    )
    response = _post_json(client, "/v1/couples", body, care.admin.headers)
    _assert_problem(response, 422, "therapist_id")  # a number of sane length reaches the schema


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
