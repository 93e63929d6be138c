"""`/fhir/R4` read and search: valid resources, search parameters, paging by Bundle links,
SMART v2 system scopes, OperationOutcome errors, tenant isolation, and what stays hidden."""

from __future__ import annotations

import base64
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from service.core import context
from service.db import uow
from service.db.audit import AuditEvent
from service.fhir import service as resources
from tests import fhir_checks
from tests.fixtures import register_integrator
from tests.scenario import CoupleInCare, answers

FHIR = "/fhir/R4"
TYPES = tuple(resources.SOURCES)


@pytest.fixture
def care(client, clinic) -> CoupleInCare:
    care = CoupleInCare(client, clinic)
    care.session(ana=answers(8), ben=answers(9))
    care.session(ana=answers(3), ben=answers(9))  # a drop and a split: alerts
    return care


@pytest.fixture
def reader(clinic):
    return clinic.integrator("system/*.rs")


def get(client, path: str, caller, **query) -> dict:
    response = client.get(FHIR + path, query_string=query or None, headers=caller.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/fhir+json"
    return response.json


def search_all(client, kind: str, caller, **query) -> list[dict]:
    """Every match, following `next` links, each page validated."""
    found, url = [], f"/{kind}"
    while url:
        page = get(client, url, caller, **query)
        fhir_checks.check(page)
        found += [entry["resource"] for entry in page["entry"]]
        links = {link["relation"]: link["url"] for link in page["link"]}
        url, query = links.get("next"), {}
        if url:
            url = urlsplit(url).path.removeprefix(FHIR) + "?" + urlsplit(url).query
    return found


def test_metadata_lists_exactly_what_is_supported(client):
    statement = client.get(f"{FHIR}/metadata").json
    fhir_checks.check(statement)
    (rest,) = statement["rest"]
    listed = {entry["type"]: entry for entry in rest["resource"]}
    assert set(listed) == {*TYPES, "Appointment"}
    for kind in TYPES:
        names = {param["name"] for param in listed[kind]["searchParam"]}
        assert names == {"_id", "_lastUpdated", *resources.SOURCES[kind].params}
        assert {"read", "search-type"} <= {i["code"] for i in listed[kind]["interaction"]}
    assert {i["code"] for i in listed["Appointment"]["interaction"]} == {"create", "update"}
    assert [i["code"] for i in rest["interaction"]] == ["transaction"]
    assert [op["name"] for op in rest["operation"]] == ["export"]
    assert [op["name"] for op in listed["Group"]["operation"]] == ["export"]


def test_smart_configuration_lists_the_system_scopes(client):
    smart = client.get("/.well-known/smart-configuration").json
    assert {"system/*.rs", "system/Patient.rs", "system/Patient.cu"} <= set(
        smart["scopes_supported"]
    )
    assert "permission-v2" in smart["capabilities"]
    assert "client_credentials" in smart["grant_types_supported"]


def test_every_type_searches_and_reads_valid_resources(client, care, reader):
    for kind in TYPES:
        found = search_all(client, kind, reader)
        assert found, kind
        for resource in found:
            read = get(client, f"/{kind}/{resource['id']}", reader)
            fhir_checks.check(read)
            assert read == resource


def test_a_session_is_one_encounter_for_the_couple_and_one_per_partner(client, care, reader):
    encounters = search_all(client, "Encounter", reader)
    assert len(encounters) == 6
    assert search_all(client, "Encounter", reader) == encounters  # stable ids and order
    sessions = [e for e in encounters if "partOf" not in e]
    assert {e["subject"]["reference"] for e in sessions} == {f"Group/{care.id}"}
    for session in sessions:
        parts = [
            e for e in encounters if e.get("partOf") == {"reference": f"Encounter/{session['id']}"}
        ]
        assert {p["subject"]["reference"] for p in parts} == {
            f"Patient/{care.ana}",
            f"Patient/{care.ben}",
        }
    assert len({e["id"] for e in encounters}) == 6


def test_each_response_answers_its_questionnaire(client, care, reader):
    responses = search_all(client, "QuestionnaireResponse", reader)
    assert len(responses) == 4
    for response in responses:
        instrument = response["questionnaire"].split("|")[0].rsplit("/", 1)[1]
        questionnaire = get(client, f"/Questionnaire/{instrument}", reader)
        fhir_checks.answers_questionnaire(response, questionnaire)
        assert get(client, response["encounter"]["reference"].join(["/", ""]), reader)


def test_observations_total_items_derived_from_and_the_gap(client, care, reader):
    observations = search_all(client, "Observation", reader)
    scores = [o for o in observations if o["subject"]["reference"].startswith("Patient/")]
    gaps = [o for o in observations if o["subject"]["reference"].startswith("Group/")]
    assert len(scores) == 4 and len(gaps) == 2
    ana_low = next(o for o in scores if o["valueQuantity"]["value"] == 24)
    items = [
        c for c in ana_low["component"] if c["code"]["coding"][0]["code"] != "percent-of-scale"
    ]
    assert len(items) == 8 and {c["valueInteger"] for c in items} == {3}
    assert ana_low["derivedFrom"][0]["reference"].startswith("QuestionnaireResponse/")
    assert sorted(g["valueQuantity"]["value"] for g in gaps) == [10.0, 60.0]
    for gap in gaps:
        assert len(gap["derivedFrom"]) == 2
        assert get(client, f"/Observation/{gap['id']}", reader) == gap


def test_search_parameters(client, care, reader, travel):
    ana = f"Patient/{care.ana}"
    assert {
        o["subject"]["reference"]
        for o in search_all(client, "Observation", reader, patient=care.ana)
    } == {ana}
    groups = search_all(client, "Observation", reader, subject=f"Group/{care.id}")
    assert len(groups) == 2
    encounter = search_all(client, "QuestionnaireResponse", reader, patient=care.ana)[0][
        "encounter"
    ]
    matched = search_all(client, "Observation", reader, encounter=encounter["reference"])
    assert [o["subject"]["reference"] for o in matched] == [ana]
    assert len(search_all(client, "Encounter", reader, subject=f"Group/{care.id}")) == 2
    assert len(search_all(client, "Encounter", reader, patient=care.ben)) == 2
    flags = search_all(client, "Flag", reader, subject=f"Group/{care.id}")
    assert all(f["subject"]["reference"] == f"Group/{care.id}" for f in flags)
    patient = search_all(client, "Patient", reader, _id=care.ana)
    assert [p["id"] for p in patient] == [care.ana]
    two = search_all(client, "Patient", reader, _id=f"{care.ana},{care.ben}")
    assert {p["id"] for p in two} == {care.ana, care.ben}

    travel.advance(timedelta(minutes=1))
    marker = (care.start + timedelta(days=400)).date().isoformat()
    assert search_all(client, "Patient", reader, _lastUpdated=f"gt{marker}") == []
    changed = client.patch(
        f"/v1/partners/{care.ben}", json={"pronouns": "he/him"}, headers=care.admin.headers
    )
    assert changed.status_code == 200, changed.json
    since = changed.json["updated_at"]
    recent = search_all(client, "Patient", reader, _lastUpdated=f"ge{since}")
    assert [p["id"] for p in recent] == [care.ben]
    before = search_all(client, "Patient", reader, _lastUpdated=f"lt{since}")
    assert [p["id"] for p in before] == [care.ana]


def test_paging_by_bundle_links_returns_everything_once(client, care, reader):
    care.session(ana=answers(7), ben=answers(7))
    everything = search_all(client, "Encounter", reader)
    for count in (1, 2, 4):
        paged = search_all(client, "Encounter", reader, _count=count)
        assert [e["id"] for e in paged] == [e["id"] for e in everything]
    first = get(client, "/Observation", reader, _count=1)
    assert len(first["entry"]) == 1
    assert "next" in {link["relation"] for link in first["link"]}


@pytest.mark.parametrize(
    ("path", "query", "status", "code"),
    [
        ("/Appointment", {}, 404, "not-found"),
        ("/Nothing/1", {}, 404, "not-found"),
        ("/Patient", {"name": "Ana"}, 400, "not-supported"),
        ("/Patient", {"_include": "Flag:subject"}, 400, "not-supported"),
        ("/Flag", {"_revinclude": "Flag:subject"}, 400, "not-supported"),
        ("/Patient", {"_count": "0"}, 400, "invalid"),
        ("/Patient", {"_count": "9" * 40}, 400, "invalid"),
        ("/Patient", {"_lastUpdated": "ge2026-13-01"}, 400, "invalid"),
        ("/Patient", {"_lastUpdated": "gt0000-01-01"}, 400, "invalid"),
        ("/Patient", {"_lastUpdated": "ge9999-12-31T23:59:59Z"}, 400, "invalid"),
        ("/Patient", {"_cursor": "not-a-cursor"}, 400, "invalid"),
        ("/Patient", {"_format": "xml"}, 400, "invalid"),
        ("/Patient/not-a-uuid", {}, 404, "not-found"),
        ("/Encounter/" + "f" * 64, {}, 404, "not-found"),
        ("/Observation/x-gap", {}, 404, "not-found"),
        ("/Patient/a/b/c", {}, 404, "not-found"),
        ("/Encounter", {"subject": "Group/" + "x" * 80}, 400, "invalid"),
        ("/Encounter", {"patient": "Group/1"}, 400, "invalid"),
    ],
)
def test_bad_requests_are_operation_outcomes(client, reader, path, query, status, code):
    response = client.get(FHIR + path, query_string=query, headers=reader.headers)
    assert response.status_code == status, response.json
    assert response.mimetype == "application/fhir+json"
    fhir_checks.check(response.json)
    assert response.json["issue"][0]["code"] == code


def test_credentials_and_scopes(client, clinic, care):
    anonymous = client.get(f"{FHIR}/Patient")
    assert anonymous.status_code == 401 and anonymous.json["resourceType"] == "OperationOutcome"
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get(f"{FHIR}/Patient", headers={"Authorization": "Bearer x"}).status_code == 401
    staff = client.get(f"{FHIR}/Patient", headers=care.admin.headers)
    assert staff.status_code == 403 and staff.json["issue"][0]["code"] == "forbidden"
    patients_only = clinic.integrator("system/Patient.rs", "couples.read")
    assert client.get(f"{FHIR}/Patient", headers=patients_only.headers).status_code == 200
    assert (
        client.get(f"{FHIR}/Patient/{care.ana}", headers=patients_only.headers).status_code == 200
    )
    assert client.get(f"{FHIR}/Observation", headers=patients_only.headers).status_code == 403
    rest_only = clinic.integrator("couples.read")
    assert client.get(f"{FHIR}/Patient", headers=rest_only.headers).status_code == 403
    put = client.put(f"{FHIR}/Patient/{care.ana}", json={}, headers=patients_only.headers)
    assert put.status_code == 405 and put.json["resourceType"] == "OperationOutcome"


def test_client_credentials_token_carries_system_scopes(client, clinic, care):
    client_id, secret = register_integrator(clinic.id, "EHR", ["system/*.rs"])
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "system/Patient.rs system/Flag.rs"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert token.status_code == 200, token.json
    assert token.json["scope"] == "system/Flag.rs system/Patient.rs"
    bearer = {"Authorization": f"Bearer {token.json['access_token']}"}
    assert client.get(f"{FHIR}/Patient", headers=bearer).status_code == 200
    assert client.get(f"{FHIR}/Group", headers=bearer).status_code == 403
    refused = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "system/Patient.cu"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert refused.status_code == 400 and refused.json["error"] == "invalid_scope"


def test_admins_register_integrators_with_system_scopes(client, admin):
    created = client.post(
        "/v1/clients",
        json={"name": "EHR", "scopes": ["system/*.rs", "system/Patient.cu"]},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.json
    assert created.json["scopes"] == ["system/*.rs", "system/Patient.cu"]
    wrong = client.post(
        "/v1/clients", json={"name": "EHR", "scopes": ["system/*.cruds"]}, headers=admin.headers
    )
    assert wrong.status_code == 422


def test_another_clinic_sees_nothing(client, care, reader, other_clinic):
    intruder = other_clinic.integrator("system/*.rs")
    mine = {kind: search_all(client, kind, reader) for kind in TYPES}
    for kind in TYPES:
        theirs = search_all(client, kind, intruder)
        if kind == "Organization":
            assert [o["id"] for o in theirs] == [str(other_clinic.id)]
        elif kind == "Questionnaire":
            assert theirs == mine[kind]  # the built-in instrument, shared by every clinic
            continue
        else:
            assert theirs == []
        for resource in mine[kind]:
            found = client.get(f"{FHIR}/{kind}/{resource['id']}", headers=intruder.headers)
            assert found.status_code == 404, (kind, resource["id"])
            assert found.json["resourceType"] == "OperationOutcome"
    assert search_all(client, "Observation", intruder, patient=care.ana) == []


def test_safety_alerts_and_private_comments_never_reach_integrators(client, care, reader):
    session_id = care.complete()["id"]
    for partner, safety in ((care.ana, True), (care.ben, False)):
        sent = client.post(
            f"/v1/sessions/{session_id}/feedback",
            headers=care.therapist.headers,
            json={
                "partner_id": partner,
                "answers": answers(2),
                "safety_concern": safety,
                "comment": "He shouts at me at home",
            },
        )
        assert sent.status_code == 201, sent.json
    rules = {alert["rule"] for alert in care.alerts()}
    assert "safety_concern" in rules  # clinicians see it
    flags = search_all(client, "Flag", reader)
    assert flags and "safety_concern" not in {f["code"]["coding"][0]["code"] for f in flags}
    hidden = next(a for a in care.alerts() if a["rule"] == "safety_concern")
    assert client.get(f"{FHIR}/Flag/{hidden['id']}", headers=reader.headers).status_code == 404
    for kind in TYPES:
        text = str(search_all(client, kind, reader))
        assert "shouts" not in text and "safety" not in text.lower()


def test_reads_are_audited_as_the_integrator(client, care, reader):
    search_all(client, "Patient", reader)
    get(client, f"/QuestionnaireResponse/{care.answered[0]['id']}", reader)
    with context.system_context("test check"), uow.unit_of_work() as session:
        events = session.execute(
            sa.select(AuditEvent.resource_type, AuditEvent.resource_id).where(
                AuditEvent.actor_id == reader.client_id, AuditEvent.action == "read"
            )
        ).all()
    seen = {(kind, str(ident)) for kind, ident in events}
    assert {("partner", care.ana), ("partner", care.ben)} <= seen
    assert ("feedback_response", care.answered[0]["id"]) in seen
