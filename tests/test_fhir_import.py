"""Schedule import: a transaction Bundle of Patient, Practitioner and Appointment or Encounter
entries, conditional on identifier, all or nothing, per-entry OperationOutcome."""

from __future__ import annotations

import copy

import pytest
import sqlalchemy as sa

from service.core import context
from service.db import uow
from service.therapy_sessions.models import TherapySession
from tests import fhir_checks
from tests.test_fhir_api import FHIR, search_all

EHR = "urn:oid:1.2.36.146.595.217.0.1"


def bundle(therapist_email: str, *, start: str = "2030-03-04T09:00:00Z") -> dict:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:7d1c7e6e-0000-4000-8000-000000000001",
                "resource": {
                    "resourceType": "Practitioner",
                    "identifier": [{"system": EHR, "value": "dr-1"}],
                    "name": [{"given": ["Ana"], "family": "Reyes"}],
                    "telecom": [{"system": "email", "value": therapist_email}],
                },
                "request": {
                    "method": "POST",
                    "url": "Practitioner",
                    "ifNoneExist": f"identifier={EHR}|dr-1",
                },
            },
            *(
                {
                    "fullUrl": f"urn:uuid:7d1c7e6e-0000-4000-8000-00000000001{n}",
                    "resource": {
                        "resourceType": "Patient",
                        "identifier": [{"system": EHR, "value": f"mrn-{n}"}],
                        "name": [{"text": name}],
                        "telecom": [{"system": "email", "value": f"{name.lower()}@example.org"}],
                    },
                    "request": {"method": "PUT", "url": f"Patient?identifier={EHR}|mrn-{n}"},
                }
                for n, name in ((1, "Kim"), (2, "Lou"))
            ),
            {
                "fullUrl": "urn:uuid:7d1c7e6e-0000-4000-8000-000000000021",
                "resource": {
                    "resourceType": "Appointment",
                    "identifier": [{"system": EHR, "value": "appt-1"}],
                    "status": "booked",
                    "start": start,
                    "end": start.replace("09:00", "09:50"),
                    "participant": [
                        {
                            "actor": {
                                "reference": f"urn:uuid:7d1c7e6e-0000-4000-8000-00000000001{n}"
                            },
                            "status": "accepted",
                        }
                        for n in (1, 2)
                    ]
                    + [
                        {
                            "actor": {"reference": "urn:uuid:7d1c7e6e-0000-4000-8000-000000000001"},
                            "status": "accepted",
                        }
                    ],
                },
                "request": {
                    "method": "POST",
                    "url": "Appointment",
                    "ifNoneExist": f"identifier={EHR}|appt-1",
                },
            },
        ],
    }


def post(client, caller, body) -> object:
    return client.post(
        FHIR, json=body, headers={**caller.headers, "Content-Type": "application/fhir+json"}
    )


def _sessions(clinic_id) -> int:
    with context.system_context("test check"), uow.unit_of_work() as session:
        return session.scalar(
            sa.select(sa.func.count())
            .select_from(TherapySession)
            .where(TherapySession.clinic_id == clinic_id)
        )


@pytest.fixture
def writer(clinic):
    return clinic.integrator("system/*.cu", "system/*.rs")


def test_a_bundle_applied_twice_creates_nothing_the_second_time(client, clinic, writer):
    therapist = clinic.staff("therapist")
    first = post(client, writer, bundle(therapist.email))
    assert first.status_code == 200, first.json
    fhir_checks.check(first.json)
    statuses = [entry["response"]["status"] for entry in first.json["entry"]]
    assert statuses == ["200 OK", "201 Created", "201 Created", "201 Created"]
    assert first.json["entry"][0]["response"]["location"] == f"Practitioner/{therapist.id}"
    patients = search_all(client, "Patient", writer, identifier=f"{EHR}|mrn-1")
    assert [p["name"][0]["text"] for p in patients] == ["Kim"]
    (group,) = search_all(client, "Group", writer)
    assert group["managingEntity"]["reference"] == f"Practitioner/{therapist.id}"
    encounters = search_all(client, "Encounter", writer)
    assert len(encounters) == 3 and {e["status"] for e in encounters} == {"planned"}

    again = post(client, writer, bundle(therapist.email))
    assert again.status_code == 200, again.json
    assert [e["response"]["status"] for e in again.json["entry"]] == ["200 OK"] * 4
    assert [e["response"]["location"] for e in again.json["entry"]] == [
        e["response"]["location"] for e in first.json["entry"]
    ]
    assert search_all(client, "Encounter", writer) == encounters
    assert len(search_all(client, "Patient", writer)) == 2
    assert _sessions(clinic.id) == 1


def test_conditional_updates_reschedule_cancel_and_rename(client, clinic, writer):
    therapist = clinic.staff("therapist")
    assert post(client, writer, bundle(therapist.email)).status_code == 200
    moved = bundle(therapist.email, start="2030-03-05T09:00:00Z")
    moved["entry"][1]["resource"]["name"] = [{"text": "Kim Park"}]
    assert post(client, writer, moved).status_code == 200
    (kim,) = search_all(client, "Patient", writer, identifier=f"{EHR}|mrn-1")
    assert kim["name"] == [{"text": "Kim Park"}]
    session = next(e for e in search_all(client, "Encounter", writer) if "partOf" not in e)
    assert session["period"]["start"].startswith("2030-03-05T09:00:00")
    cancelled = copy.deepcopy(moved)
    cancelled["entry"][3]["resource"]["status"] = "cancelled"
    assert post(client, writer, cancelled).status_code == 200
    session = next(e for e in search_all(client, "Encounter", writer) if "partOf" not in e)
    assert session["status"] == "cancelled"
    assert _sessions(clinic.id) == 1


def test_an_encounter_for_an_existing_group(client, clinic, writer):
    therapist = clinic.staff("therapist")
    first = post(client, writer, bundle(therapist.email))
    (group,) = search_all(client, "Group", writer)
    body = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {
                    "resourceType": "Encounter",
                    "identifier": [{"system": EHR, "value": "enc-9"}],
                    "status": "planned",
                    "class": {"code": "VR"},
                    "subject": {"reference": f"Group/{group['id']}"},
                    "participant": [
                        {
                            "individual": {
                                "reference": first.json["entry"][0]["response"]["location"]
                            }
                        }
                    ],
                    "period": {
                        "start": "2030-04-01T15:00:00+02:00",
                        "end": "2030-04-01T15:45:00+02:00",
                    },
                },
                "request": {"method": "PUT", "url": f"Encounter?identifier={EHR}|enc-9"},
            }
        ],
    }
    made = post(client, writer, body)
    assert made.status_code == 200, made.json
    assert made.json["entry"][0]["response"]["status"] == "201 Created"
    session_id = made.json["entry"][0]["response"]["location"].split("/")[1]
    encounter = search_all(client, "Encounter", writer, _id=session_id)[0]
    assert encounter["class"]["code"] == "VR" and encounter["period"]["start"].startswith(
        "2030-04-01T13:00"
    )
    assert post(client, writer, body).json["entry"][0]["response"]["status"] == "200 OK"


@pytest.mark.parametrize(
    ("change", "index", "status"),
    [
        (lambda b: b["entry"][3]["resource"].update(status="waiting"), 3, 422),
        (lambda b: b["entry"][3]["resource"].update(start="tomorrow"), 3, 422),
        (lambda b: b["entry"][2]["resource"].update(name=[{"text": "x\u0000y"}]), 2, 422),
        (lambda b: b["entry"][2]["resource"].update(identifier=[]), 2, 400),
        (lambda b: b["entry"][2]["request"].update(method="DELETE"), 2, 400),
        (
            lambda b: b["entry"][0]["resource"].update(
                telecom=[{"system": "email", "value": "nobody@x.org"}]
            ),
            0,
            422,
        ),
        (lambda b: b["entry"][3]["resource"]["participant"].pop(1), 3, 422),
        (lambda b: b["entry"][1]["resource"].update(resourceType="Observation"), 1, 400),
    ],
)
def test_one_bad_entry_changes_nothing_and_is_named(client, clinic, writer, change, index, status):
    therapist = clinic.staff("therapist")
    body = bundle(therapist.email)
    change(body)
    refused = post(client, writer, body)
    assert refused.status_code == status, refused.json
    fhir_checks.check(refused.json)
    assert [i["expression"] for i in refused.json["issue"]] == [[f"Bundle.entry[{index}]"]]
    assert refused.json["issue"][0]["diagnostics"].startswith(f"Bundle.entry[{index}]")
    assert search_all(client, "Patient", writer) == []
    assert _sessions(clinic.id) == 0


def test_a_clash_with_the_schedule_rolls_everything_back(client, clinic, writer):
    therapist = clinic.staff("therapist")
    assert post(client, writer, bundle(therapist.email)).status_code == 200
    clash = bundle(therapist.email)
    for entry, value in zip(clash["entry"][1:3], ("mrn-3", "mrn-4"), strict=True):
        entry["resource"]["identifier"] = [{"system": EHR, "value": value}]
        entry["request"]["url"] = f"Patient?identifier={EHR}|{value}"
    clash["entry"][3]["resource"]["identifier"] = [{"system": EHR, "value": "appt-2"}]
    clash["entry"][3]["request"]["ifNoneExist"] = f"identifier={EHR}|appt-2"
    refused = post(client, writer, clash)
    assert refused.status_code == 409, refused.json
    assert refused.json["issue"][0]["expression"] == ["Bundle.entry[3]"]
    assert len(search_all(client, "Patient", writer)) == 2  # the new couple was not kept
    assert _sessions(clinic.id) == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"resourceType": "Patient"}, 400),
        ({"resourceType": "Bundle", "type": "batch", "entry": []}, 400),
        ({"resourceType": "Bundle", "type": "transaction", "entry": "x"}, 400),
        ([1, 2], 400),
    ],
)
def test_malformed_bundles(client, writer, body, status):
    refused = post(client, writer, body)
    assert refused.status_code == status
    fhir_checks.check(refused.json)


def test_import_needs_write_scopes_json_and_a_token(client, clinic):
    therapist = clinic.staff("therapist")
    reader = clinic.integrator("system/*.rs")
    refused = post(client, reader, bundle(therapist.email))
    assert refused.status_code == 403
    assert {i["expression"][0] for i in refused.json["issue"]} == {
        f"Bundle.entry[{n}]" for n in range(4)
    }
    patients_only = clinic.integrator("system/Patient.cu", "system/Practitioner.cu")
    assert [
        i["expression"] for i in post(client, patients_only, bundle(therapist.email)).json["issue"]
    ] == [["Bundle.entry[3]"]]
    assert client.post(FHIR, json=bundle(therapist.email)).status_code == 401
    writer = clinic.integrator("system/*.cu")
    text = client.post(
        FHIR, data="<Bundle/>", headers={**writer.headers, "Content-Type": "application/xml"}
    )
    assert text.status_code == 415 and text.json["resourceType"] == "OperationOutcome"
    deep = client.post(
        FHIR,
        data="[" * 100000 + "]" * 100000,
        headers={**writer.headers, "Content-Type": "application/fhir+json"},
    )
    assert deep.status_code in (400, 413)
    huge = client.post(
        FHIR, data="9" * 5000, headers={**writer.headers, "Content-Type": "application/fhir+json"}
    )
    assert huge.status_code == 400


def test_another_clinic_cannot_reach_this_clinics_rows(client, clinic, other_clinic, writer):
    therapist = clinic.staff("therapist")
    first = post(client, writer, bundle(therapist.email))
    (group,) = search_all(client, "Group", writer)
    intruder = other_clinic.integrator("system/*.cu", "system/*.rs")
    body = bundle(therapist.email)
    body["entry"][3]["resource"]["participant"] = [
        {"actor": {"reference": f"Group/{group['id']}"}},
        {"actor": {"reference": first.json["entry"][0]["response"]["location"]}},
    ]
    del body["entry"][0:3]
    refused = post(client, intruder, body)
    assert refused.status_code == 422 and "known here" in refused.json["issue"][0]["diagnostics"]
