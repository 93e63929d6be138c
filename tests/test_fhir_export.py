"""Bulk Data `$export`: kick-off, polling, the manifest, NDJSON behind the same auth, `_since`,
`_type`, Group export, cancel, retention, and tenant isolation. The export runs as the worker
runs it (its job list)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from service.cli import seed_demo
from service.core import context
from service.db import uow
from service.fhir.mapping import partner_encounter_id
from service.fhir.models import ExportJob
from service.staff.models import StaffMember
from service.worker import jobs
from tests import fhir_checks
from tests.fixtures import ClinicHandle
from tests.scenario import CoupleInCare, answers
from tests.test_fhir_api import FHIR, search_all

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


def run_worker_job(settings, name: str) -> list[str]:
    """One run of a worker job, built as `python -m service.worker` builds it."""
    from service.worker.__main__ import build

    return jobs.run_due([job for job in build(settings).jobs if job.name == name])


def kick_off(client, caller, path: str = "/$export", **query) -> str:
    response = client.get(FHIR + path, query_string=query, headers={**caller.headers, **ASYNC})
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.headers["Content-Location"]


def local(url: str) -> str:
    return urlsplit(url).path


def export(client, caller, settings, path: str = "/$export", **query):
    """Kick off, poll while queued, let the worker run it, then the manifest and every line."""
    status_url = local(kick_off(client, caller, path, **query))
    waiting = client.get(status_url, headers=caller.headers)
    assert waiting.status_code == 202
    assert waiting.headers["X-Progress"] == "queued" and waiting.headers["Retry-After"] == "2"
    assert run_worker_job(settings, "run_fhir_exports") == ["run_fhir_exports"]
    done = client.get(status_url, headers=caller.headers)
    assert done.status_code == 200, done.get_data(as_text=True)
    manifest = done.json
    assert manifest["requiresAccessToken"] is True and manifest["error"] == []
    lines: dict[str, list[dict]] = {}
    for item in manifest["output"]:
        got = client.get(local(item["url"]), headers=caller.headers)
        assert got.status_code == 200 and got.mimetype == "application/fhir+ndjson"
        parsed = [json.loads(line) for line in got.get_data(as_text=True).splitlines()]
        assert len(parsed) == item["count"] and {r["resourceType"] for r in parsed} == {
            item["type"]
        }
        fhir_checks.check_all(parsed)
        lines[item["type"]] = parsed
    return manifest, lines, status_url


def _demo(app) -> ClinicHandle:
    out = json.loads(app.test_cli_runner().invoke(seed_demo).output)
    return ClinicHandle(uuid.UUID(out["clinic"]["id"]), "demo", app.config["SETTINGS"].token_issuer)


def _demo_admin(demo: ClinicHandle) -> dict[str, str]:
    with context.system_context("test check"), uow.unit_of_work() as session:
        admin_id = session.scalar(
            sa.select(StaffMember.id).where(
                StaffMember.clinic_id == demo.id, StaffMember.role == "admin"
            )
        )
    return {"Authorization": f"Bearer {demo.token_for(admin_id, 'admin')}"}


def test_full_export_of_the_demo_then_changes_then_since_returns_exactly_them(
    app, client, settings, travel
):
    demo = _demo(app)
    travel.advance(timedelta(minutes=1))
    reader = demo.integrator("system/*.rs")
    manifest, full, _ = export(client, reader, settings)
    for kind, found in full.items():  # the export holds what search finds, nothing else
        assert {r["id"] for r in found} == {r["id"] for r in search_all(client, kind, reader)}
    assert len(full["Group"]) == 3 and len(full["Patient"]) == 6
    responses = {r["id"]: r for r in full["QuestionnaireResponse"]}
    questionnaires = {q["url"]: q for q in full["Questionnaire"]}
    for response in responses.values():
        fhir_checks.answers_questionnaire(
            response, questionnaires[response["questionnaire"].split("|")[0]]
        )
    every_id = {f"{r['resourceType']}/{r['id']}" for found in full.values() for r in found}
    for found in full.values():
        for resource in found:
            for ref in fhir_checks._references(resource):
                assert ref[1] in every_id, ref  # every reference resolves inside the export

    travel.advance(timedelta(minutes=1))
    admin = _demo_admin(demo)
    partner = full["Patient"][0]["id"]
    changed = client.patch(f"/v1/partners/{partner}", json={"pronouns": "they/them"}, headers=admin)
    assert changed.status_code == 200, changed.json
    group = full["Group"][0]["id"]
    booked = client.post(
        "/v1/sessions",
        json={"couple_id": group, "starts_at": "2030-01-07T10:00:00Z", "duration_minutes": 50},
        headers=admin,
    )
    assert booked.status_code == 201, booked.json
    travel.advance(timedelta(minutes=1))

    _, delta, _ = export(client, reader, settings, _since=manifest["transactionTime"])
    session_id = uuid.UUID(booked.json["id"])
    members = [uuid.UUID(m["entity"]["reference"][8:]) for m in full["Group"][0]["member"]]
    assert {kind: {r["id"] for r in found} for kind, found in delta.items()} == {
        "Patient": {partner},
        "Encounter": {str(session_id), *(partner_encounter_id(session_id, m) for m in members)},
    }


def test_group_export_holds_one_couple_of_the_types_asked_and_no_safety_alert(
    client, clinic, settings
):
    first, second = CoupleInCare(client, clinic), CoupleInCare(client, clinic, label="Others")
    first.session(ana=answers(8), ben=answers(9))
    first.session(ana=answers(2), ben=answers(9), safety=True)
    second.session(ana=answers(7), ben=answers(7))
    reader = clinic.integrator("system/*.rs")
    _, lines, _ = export(
        client, reader, settings, f"/Group/{first.id}/$export", _type="Patient,Observation,Flag"
    )
    assert set(lines) == {"Patient", "Observation", "Flag"}
    assert {p["id"] for p in lines["Patient"]} == {first.ana, first.ben}
    subjects = {o["subject"]["reference"] for o in lines["Observation"]}
    assert subjects <= {f"Patient/{first.ana}", f"Patient/{first.ben}", f"Group/{first.id}"}
    assert "safety_concern" in {a["rule"] for a in first.alerts()}
    assert "safety_concern" not in {f["code"]["coding"][0]["code"] for f in lines["Flag"]}


@pytest.mark.parametrize(
    ("path", "query", "headers", "status"),
    [
        ("/$export", {}, {"Prefer": "respond-sync"}, 400),
        ("/$export", {"_type": "Appointment"}, ASYNC, 400),
        ("/$export", {"_type": "Nothing"}, ASYNC, 400),
        ("/$export", {"_since": "yesterday"}, ASYNC, 400),
        ("/$export", {"_since": "2026-01-01"}, ASYNC, 400),
        ("/$export", {"_outputFormat": "text/csv"}, ASYNC, 400),
        ("/$export", {"_typeFilter": "Patient?active=true"}, ASYNC, 400),
        ("/$export", {"_type": "Observation"}, ASYNC, 403),
        ("/Group/not-a-uuid/$export", {}, ASYNC, 404),
        ("/Group/2792971e-4192-4966-b186-411bb0d90919/$export", {}, ASYNC, 404),
        ("/Group/x/$export", {"_type": "Organization"}, ASYNC, 404),
    ],
)
def test_kick_off_refusals_are_operation_outcomes(client, clinic, path, query, headers, status):
    patients_only = clinic.integrator("system/Patient.rs")
    response = client.get(
        FHIR + path, query_string=query, headers={**patients_only.headers, **headers}
    )
    assert response.status_code == status, response.json
    fhir_checks.check(response.json)


def test_default_types_are_those_the_token_may_read(client, clinic, settings):
    CoupleInCare(client, clinic).session(ana=answers(8), ben=answers(8))
    patients_only = clinic.integrator("system/Patient.rs")
    _, lines, _ = export(client, patients_only, settings)
    assert set(lines) == {"Patient"} and len(lines["Patient"]) == 2
    anonymous = client.get(f"{FHIR}/$export", headers=ASYNC)
    assert anonymous.status_code == 401


def test_only_the_client_that_asked_reads_status_and_files(client, clinic, other_clinic, settings):
    CoupleInCare(client, clinic).session(ana=answers(8), ben=answers(8))
    asker = clinic.integrator("system/*.rs")
    manifest, _, status_url = export(client, asker, settings)
    for stranger in (clinic.integrator("system/*.rs"), other_clinic.integrator("system/*.rs")):
        assert client.get(status_url, headers=stranger.headers).status_code == 404
        assert client.delete(status_url, headers=stranger.headers).status_code == 404
        for item in manifest["output"]:
            refused = client.get(local(item["url"]), headers=stranger.headers)
            assert refused.status_code == 404 and refused.json["resourceType"] == "OperationOutcome"
    assert client.get(local(manifest["output"][0]["url"])).status_code == 401
    intruder = other_clinic.integrator("system/*.rs")
    _, theirs, _ = export(client, intruder, settings)
    assert set(theirs) <= {"Organization", "Questionnaire"}
    assert [o["id"] for o in theirs["Organization"]] == [str(other_clinic.id)]
    group = client.get(
        f"{FHIR}/Group/{CoupleInCare(client, clinic).id}/$export",
        headers={**intruder.headers, **ASYNC},
    )
    assert group.status_code == 404


def test_delete_cancels_and_retention_deletes(client, clinic, settings, travel):
    CoupleInCare(client, clinic).session(ana=answers(8), ben=answers(8))
    asker = clinic.integrator("system/*.rs")
    cancelled = local(kick_off(client, asker))
    assert client.delete(cancelled, headers=asker.headers).status_code == 202
    assert client.get(cancelled, headers=asker.headers).status_code == 404
    manifest, _, status_url = export(client, asker, settings)
    job_id = uuid.UUID(status_url.rsplit("/", 1)[1])
    files = Path(settings.export_dir) / str(clinic.id) / str(job_id)
    assert sorted(p.name for p in files.iterdir()) == sorted(
        item["type"] + ".ndjson" for item in manifest["output"]
    )
    travel.advance(timedelta(hours=settings.export_retention_hours, minutes=1))
    assert run_worker_job(settings, "purge_fhir_exports") == ["purge_fhir_exports"]
    assert not files.exists()
    with context.system_context("test check"), uow.unit_of_work() as session:
        assert (
            session.scalar(
                sa.select(sa.func.count())
                .select_from(ExportJob)
                .where(ExportJob.clinic_id == clinic.id)
            )
            == 0
        )


def test_an_export_whose_completion_cannot_be_stored_is_failed_not_left_running(
    client, clinic, settings, monkeypatch
):
    """The files are written, then storing "completed" fails (the database refuses it): the
    client polling sees the export failed (a 500 OperationOutcome) at once, not "in progress"
    for six hours, and its files are gone."""
    from service.fhir import export as exports

    CoupleInCare(client, clinic).session(ana=answers(8), ben=answers(8))
    asker = clinic.integrator("system/*.rs")
    status_url = local(kick_off(client, asker))
    close = exports._close
    refusals = iter([sa.exc.OperationalError("UPDATE export_jobs", {}, Exception("gone"))])

    def refused_once(job, settings):
        if job.status == "completed" and (refusal := next(refusals, None)) is not None:
            raise refusal
        close(job, settings)

    monkeypatch.setattr(exports, "_close", refused_once)
    assert run_worker_job(settings, "run_fhir_exports") == ["run_fhir_exports"]
    failed = client.get(status_url, headers=asker.headers)
    assert failed.status_code == 500
    assert failed.json["resourceType"] == "OperationOutcome"
    job_id = status_url.rsplit("/", 1)[1]
    assert not (Path(settings.export_dir) / str(clinic.id) / job_id).exists()
