"""Couples and partners: creation, caseload scoping, transitions, ETags, erasure, export."""

from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

import service.models  # noqa: F401 - every table, for the erasure search
from service.core import context
from service.db import uow
from service.db.base import Base
from service.notifications import email as mail
from service.notifications.models import OutboxMessage
from service.staff.policy import CLINIC_SCOPES
from service.worker import outbox
from tests import database
from tests.practice import PAST, new_couple, new_session, seed_couples
from tests.sql_counter import count_statements


@pytest.fixture
def team(clinic):
    return {
        "admin": clinic.staff("admin"),
        "supervisor": clinic.staff("supervisor"),
        "mine": clinic.staff("therapist"),
        "other": clinic.staff("therapist"),
    }


def _count_couples(client, admin) -> int:
    return len(client.get("/v1/couples?limit=200", headers=admin.headers).json["items"])


def test_a_couple_is_created_with_its_two_partners(client, team):
    couple = new_couple(
        client,
        team["admin"],
        team["mine"].id,
        shared_goals=["Fewer fights about money"],
        partners=[
            {
                "display_name": "Ana",
                "email": "ana@example.org",
                "pronouns": "she/her",
                "personal_goals": ["Feel listened to"],
                "feedback_channel": "in_clinic",
                "identifiers": [{"system": "urn:ehr:mrn", "value": "A-1"}],
            },
            {"display_name": "Ben", "phone": "+44 20 7946 0958"},
        ],
    )
    assert couple["status"] == "intake"
    assert couple["therapist"]["id"] == str(team["mine"].id)
    assert couple["therapist"]["display_name"].startswith("Therapist")
    ana, ben = couple["partners"]
    assert (ana["position"], ben["position"]) == (1, 2)
    assert ana["identifiers"] == [{"system": "urn:ehr:mrn", "value": "A-1"}]
    assert ben["phone"] == "+442079460958" and ben["feedback_channel"] == "email"


@pytest.mark.parametrize(
    "partners", [[{"display_name": "Solo"}], [{"display_name": n} for n in ("A", "B", "C")]]
)
def test_a_couple_needs_exactly_two_partners(client, team, partners):
    before = _count_couples(client, team["admin"])
    response = client.post(
        "/v1/couples",
        headers=team["admin"].headers,
        json={"label": "Odd", "therapist_id": str(team["mine"].id), "partners": partners},
    )
    assert response.status_code == 422 and "partners" in response.json["errors"]
    assert _count_couples(client, team["admin"]) == before


def test_a_therapist_of_another_clinic_cannot_be_assigned(client, team, other_clinic):
    stranger = other_clinic.staff("therapist")
    before = _count_couples(client, team["admin"])
    response = client.post(
        "/v1/couples",
        headers=team["admin"].headers,
        json={
            "label": "X",
            "therapist_id": str(stranger.id),
            "partners": [{"display_name": "A"}, {"display_name": "B"}],
        },
    )
    assert response.status_code == 422 and "therapist_id" in response.json["errors"]
    assert _count_couples(client, team["admin"]) == before


def test_therapists_see_only_their_caseload(client, clinic, team):
    mine = new_couple(client, team["admin"], team["mine"].id, label="Mine")
    theirs = new_couple(client, team["admin"], team["other"].id, label="Theirs")
    listed = client.get("/v1/couples", headers=team["mine"].headers).json["items"]
    assert [c["id"] for c in listed] == [mine["id"]]
    assert (
        client.get(f"/v1/couples/{theirs['id']}", headers=team["mine"].headers).status_code == 404
    )
    partner = theirs["partners"][0]["id"]
    assert client.get(f"/v1/partners/{partner}", headers=team["mine"].headers).status_code == 404
    for who in ("supervisor", "admin"):
        seen = {c["id"] for c in client.get("/v1/couples", headers=team[who].headers).json["items"]}
        assert {mine["id"], theirs["id"]} <= seen
    reader = clinic.integrator("couples.read")
    assert client.get(f"/v1/couples/{theirs['id']}", headers=reader.headers).status_code == 200
    blind = clinic.integrator(*(set(CLINIC_SCOPES) - {"couples.read"}))
    assert client.get(f"/v1/couples/{theirs['id']}", headers=blind.headers).status_code == 403


def test_a_therapist_creates_couples_only_in_their_own_caseload(client, team):
    response = client.post(
        "/v1/couples",
        headers=team["mine"].headers,
        json={"label": "Self", "partners": [{"display_name": "A"}, {"display_name": "B"}]},
    )
    assert response.status_code == 201 and response.json["therapist_id"] == str(team["mine"].id)
    response = client.post(
        "/v1/couples",
        headers=team["mine"].headers,
        json={
            "label": "Other",
            "therapist_id": str(team["other"].id),
            "partners": [{"display_name": "A"}, {"display_name": "B"}],
        },
    )
    assert response.status_code == 403


def test_only_admins_reassign(client, team):
    couple = new_couple(client, team["admin"], team["mine"].id)
    url = f"/v1/couples/{couple['id']}"
    body = {"therapist_id": str(team["other"].id)}
    assert client.patch(url, json=body, headers=team["mine"].headers).status_code == 403
    moved = client.patch(url, json=body, headers=team["admin"].headers)
    assert moved.status_code == 200 and moved.json["therapist_id"] == str(team["other"].id)
    assert client.get(url, headers=team["mine"].headers).status_code == 404


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        (["active", "paused", "active", "closed", "active"], True),
        (["paused"], False),
        (["active", "intake"], False),
        (["closed", "paused"], False),
    ],
)
def test_status_transitions(client, team, path, allowed):
    couple = new_couple(client, team["admin"], team["mine"].id)
    url = f"/v1/couples/{couple['id']}"
    for index, status in enumerate(path):
        response = client.patch(url, json={"status": status}, headers=team["admin"].headers)
        last = index == len(path) - 1
        if last and not allowed:
            assert response.status_code == 409 and "status" in response.json["errors"]
            assert (
                client.get(url, headers=team["admin"].headers).json["status"] == path[-2]
                if len(path) > 1
                else "intake"
            )
        else:
            assert response.status_code == 200, response.json


def test_archive_hides_the_couple_from_the_default_list(client, team):
    couple = new_couple(client, team["admin"], team["mine"].id)
    archived = client.post(f"/v1/couples/{couple['id']}/archive", headers=team["admin"].headers)
    assert archived.json["status"] == "closed" and archived.json["archived_at"]

    def ids(query: str) -> list[str]:
        listed = client.get(f"/v1/couples{query}", headers=team["admin"].headers)
        return [c["id"] for c in listed.json["items"]]

    assert couple["id"] not in ids("")
    assert couple["id"] in ids("?archived=true")


def test_filters_and_keyset_pages(client, team):
    for label in ("Alpha pair", "Beta pair", "Gamma pair"):
        new_couple(client, team["admin"], team["mine"].id, label=label)
    new_couple(client, team["admin"], team["other"].id, label="Delta pair")
    query = f"/v1/couples?therapist_id={team['mine'].id}&limit=2"
    first = client.get(query, headers=team["admin"].headers)
    assert len(first.json["items"]) == 2 and first.json["next_cursor"]
    assert 'rel="next"' in first.headers["Link"]
    second = client.get(
        f"{query}&cursor={first.json['next_cursor']}", headers=team["admin"].headers
    )
    labels = [c["label"] for c in first.json["items"] + second.json["items"]]
    assert (
        labels == ["Alpha pair", "Beta pair", "Gamma pair"] and second.json["next_cursor"] is None
    )
    found = client.get("/v1/couples?q=gAmMa", headers=team["admin"].headers).json["items"]
    assert [c["label"] for c in found] == ["Gamma pair"]
    assert (
        client.get("/v1/couples?status=active", headers=team["admin"].headers).json["items"] == []
    )


def test_listing_costs_the_same_statements_for_2_or_200_couples(client, make_clinic):
    counts = []
    for size in (2, 200):
        clinic = make_clinic()
        admin, therapist = clinic.staff("admin"), clinic.staff("therapist")
        seed_couples(clinic.id, therapist.id, size)
        client.get("/v1/clinic", headers=admin.headers)  # warm: the signing keys are cached
        with count_statements() as statements:
            page = client.get("/v1/couples?limit=200", headers=admin.headers)
        assert len(page.json["items"]) == size
        counts.append(len(statements))
    assert counts[0] == counts[1], counts


def test_partner_update_normalises_and_validates(client, team):
    couple = new_couple(client, team["admin"], team["mine"].id)
    url = f"/v1/partners/{couple['partners'][0]['id']}"
    headers = team["mine"].headers
    ok = client.patch(
        url, json={"phone": "+1 (202) 555-0143", "personal_goals": ["Trust"]}, headers=headers
    )
    assert ok.status_code == 200 and ok.json["phone"] == "+12025550143"
    for body, field in (
        ({"phone": "12345"}, "phone"),
        ({"email": "nope"}, "email"),
        ({"feedback_channel": "pigeon"}, "feedback_channel"),
    ):
        response = client.patch(url, json=body, headers=headers)
        assert response.status_code == 422 and field in response.json["errors"]
    assert client.get(url, headers=headers).json["phone"] == "+12025550143"


def test_external_identifiers_are_unique_per_clinic(client, team, other_clinic):
    ident = [{"system": "urn:ehr:mrn", "value": "777"}]
    first = new_couple(client, team["admin"], team["mine"].id)
    second = new_couple(client, team["admin"], team["mine"].id)
    headers = team["admin"].headers
    assert (
        client.patch(
            f"/v1/partners/{first['partners'][0]['id']}",
            json={"identifiers": ident},
            headers=headers,
        ).status_code
        == 200
    )
    clash = client.patch(
        f"/v1/partners/{second['partners'][0]['id']}", json={"identifiers": ident}, headers=headers
    )
    assert clash.status_code == 409 and "identifiers" in clash.json["errors"]
    elsewhere_admin = other_clinic.staff("admin")
    new_couple(
        client,
        elsewhere_admin,
        other_clinic.staff("therapist").id,
        partners=[{"display_name": "X", "identifiers": ident}, {"display_name": "Y"}],
    )


def test_stale_etag_is_412(client, team):
    couple = new_couple(client, team["admin"], team["mine"].id)
    url = f"/v1/couples/{couple['id']}"
    etag = client.get(url, headers=team["admin"].headers).headers["ETag"]
    headers = {**team["admin"].headers, "If-Match": etag}
    assert client.patch(url, json={"label": "One"}, headers=headers).status_code == 200
    stale = client.patch(url, json={"label": "Two"}, headers=headers)
    assert stale.status_code == 412
    assert client.get(url, headers=team["admin"].headers).json["label"] == "One"


@pytest.mark.postgres_only
def test_two_concurrent_patches_with_one_etag_one_wins_one_412(live_server, team):
    couple = new_couple(requests_client(live_server), team["admin"], team["mine"].id)
    url = f"{live_server}/v1/couples/{couple['id']}"
    etag = requests.get(url, headers=team["admin"].headers, timeout=10).headers["ETag"]
    barrier = threading.Barrier(2)
    results: list[int] = []

    def patch(label: str) -> None:
        barrier.wait()
        response = requests.patch(
            url,
            json={"label": label},
            timeout=10,
            headers={**team["admin"].headers, "If-Match": etag},
        )
        results.append(response.status_code)

    threads = [threading.Thread(target=patch, args=(label,)) for label in ("Left", "Right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 412]
    final = requests.get(url, headers=team["admin"].headers, timeout=10)
    assert final.headers["ETag"] == '"2"'


class requests_client:
    def __init__(self, base: str) -> None:
        self.base = base

    def post(self, path: str, json, headers):
        response = requests.post(self.base + path, json=json, headers=headers, timeout=10)
        response.json = response.json()  # the shape tests.practice expects
        return response


def test_reads_of_partner_data_are_audited(client, team):
    couple = new_couple(client, team["admin"], team["mine"].id)
    partner = couple["partners"][1]["id"]
    client.get(f"/v1/partners/{partner}", headers=team["mine"].headers)
    events = client.get(
        f"/v1/audit-events?resource_id={partner}", headers=team["admin"].headers
    ).json["items"]
    assert {"read"} <= {e["action"] for e in events}
    assert any(e["actor_id"] == str(team["mine"].id) for e in events)


def test_export_holds_everything_about_the_couple(client, team):
    couple = new_couple(client, team["admin"], team["mine"].id)
    booked = new_session(client, team["admin"], couple)
    export = client.get(f"/v1/couples/{couple['id']}/export", headers=team["mine"].headers)
    assert export.status_code == 200
    body = export.json
    assert body["couple"]["id"] == couple["id"] and len(body["couple"]["partners"]) == 2
    assert [s["id"] for s in body["sessions"]] == [booked["id"]]
    events = client.get(
        f"/v1/audit-events?resource_id={couple['id']}&action=export", headers=team["admin"].headers
    ).json["items"]
    assert len(events) == 1


@pytest.fixture
def mail_folder(app, tmp_path):
    """The development mail writer (no SMTP host) writes into a folder of this test's own."""
    original = app.config["SETTINGS"]
    app.config["SETTINGS"] = dataclasses.replace(original, mail_dir=str(tmp_path), smtp_host="")
    yield app.config["SETTINGS"]
    app.config["SETTINGS"] = original


def _send_emails_to(address: str, settings) -> None:
    """The worker's path for this address's waiting emails (they are then `sent`)."""
    with context.system_context("test drain"), uow.unit_of_work() as session:
        due = session.execute(
            sa.select(OutboxMessage.id, OutboxMessage.clinic_id).where(
                OutboxMessage.recipient == address, OutboxMessage.status == "pending"
            )
        ).all()
    for message_id, clinic_id in due:
        assert outbox.deliver(message_id, clinic_id, {"email": mail.send}, settings) == "sent"


@pytest.mark.postgres_only
def test_erasure_leaves_no_trace_of_the_partner_anywhere(client, team, test_db, mail_folder):
    name, email, phone = "Zebulon Quillfeather", "zebulon.q@example.org", "+442079460999"
    couple = client.post(
        "/v1/couples",
        headers={**team["admin"].headers, "Idempotency-Key": "erase-test-0001"},
        json={
            "label": f"{name} and Ann",
            "therapist_id": str(team["mine"].id),
            "partners": [
                {
                    "display_name": name,
                    "email": email,
                    "phone": phone,
                    "personal_goals": [f"{name} wants calm"],
                    "identifiers": [{"system": "urn:ehr", "value": email}],
                },
                {"display_name": "Ann"},
            ],
        },
    ).json
    partner_id = couple["partners"][0]["id"]
    first = new_session(client, team["admin"], couple)
    # Completing emails Zebulon a link (outbox); then his private comment names him.
    client.post(f"/v1/sessions/{first['id']}/complete", json={}, headers=team["admin"].headers)
    _send_emails_to(email, mail_folder)  # sent: a delivery record and a copy in the folder
    copies = list(Path(mail_folder.mail_dir).glob("*.eml"))
    assert len(copies) == 1 and "Zebulon" in copies[0].read_text()
    client.post(
        f"/v1/sessions/{first['id']}/feedback",
        headers=team["mine"].headers,
        json={
            "partner_id": partner_id,
            "answers": {
                k: 7
                for k in (
                    "heard",
                    "respect",
                    "openness",
                    "goals",
                    "approach",
                    "balance",
                    "airtime",
                    "confidence",
                )
            },
            "comment": f"{name} here: I felt rushed",
        },
    )
    second = new_session(client, team["admin"], couple, starts_at=PAST + timedelta(days=7))
    client.post(f"/v1/sessions/{second['id']}/complete", json={}, headers=team["admin"].headers)
    refused = client.post(f"/v1/partners/{partner_id}/erase", headers=team["mine"].headers)
    assert refused.status_code == 403
    erased = client.post(f"/v1/partners/{partner_id}/erase", headers=team["admin"].headers)
    assert erased.status_code == 200 and erased.json["erased"] is True

    assert _places_holding(test_db, (name, email, phone, "Zebulon")) == []
    assert list(Path(mail_folder.mail_dir).glob("*.eml")) == []  # the sent email's copy too
    kept = client.get(f"/v1/couples/{couple['id']}/export", headers=team["admin"].headers).json
    assert kept["couple"]["partners"][0]["id"] == partner_id  # de-identified, not deleted
    assert len(kept["sessions"]) == 2
    [response] = kept["feedback_responses"]
    assert response["partner_id"] == partner_id and response["total"] == 56  # scores stay
    statuses = {
        r["session_id"]: r["status"]
        for r in kept["feedback_requests"]
        if r["partner_id"] == partner_id
    }
    assert statuses == {first["id"]: "answered", second["id"]: "revoked"}  # no live link
    events = client.get(
        f"/v1/audit-events?resource_id={partner_id}&action=erase", headers=team["admin"].headers
    ).json["items"]
    assert len(events) == 1


@pytest.mark.postgres_only
def test_erasure_forgets_emails_sent_to_an_address_the_partner_has_since_changed(
    client, team, test_db, mail_folder
):
    old, new = "yara.first@example.org", "yara.second@example.org"
    admin = team["admin"]
    couple = new_couple(
        client,
        admin,
        team["mine"].id,
        partners=[{"display_name": "Yara", "email": old}, {"display_name": "Zed"}],
    )
    partner_id = couple["partners"][0]["id"]
    booked = new_session(client, admin, couple)
    client.post(f"/v1/sessions/{booked['id']}/complete", json={}, headers=admin.headers)
    _send_emails_to(old, mail_folder)
    etag = client.get(f"/v1/partners/{partner_id}", headers=admin.headers).headers["ETag"]
    changed = client.patch(
        f"/v1/partners/{partner_id}",
        json={"email": new},
        headers={**admin.headers, "If-Match": etag},
    )
    assert changed.status_code == 200, changed.json

    assert client.post(f"/v1/partners/{partner_id}/erase", headers=admin.headers).status_code == 200
    assert _places_holding(test_db, (old, new)) == []
    assert list(Path(mail_folder.mail_dir).glob("*.eml")) == []


def _places_holding(test_db, needles: tuple[str, ...]) -> list[str]:
    """Every text or JSON column of every table, searched as the superuser (no RLS)."""
    engine = sa.create_engine(test_db.app_url.replace(f"{database.APP_ROLE}@", "postgres@"))
    found = []
    try:
        with engine.connect() as connection:
            for table in Base.metadata.sorted_tables:
                for column in table.columns:
                    if not isinstance(column.type, sa.String | sa.Text | sa.JSON):
                        continue
                    text = sa.cast(table.c[column.name], sa.Text)
                    hit = sa.or_(*(text.ilike(f"%{needle}%") for needle in needles))
                    if connection.scalar(sa.select(sa.func.count()).where(hit)):
                        found.append(f"{table.name}.{column.name}")
    finally:
        engine.dispose()
    return found
