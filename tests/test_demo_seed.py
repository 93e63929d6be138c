"""`flask seed-demo`: the demo clinic `make run` shows, idempotent, never in production."""

from __future__ import annotations

import dataclasses
import json
import uuid

import pytest
import sqlalchemy as sa

from service import demo
from service.cli import seed_demo
from service.clients.models import OAuthClient
from service.clinics.models import Clinic
from service.core import context
from service.core.passwords import verify_secret
from service.db import uow
from service.staff.models import StaffMember


def _rows(clinic_id):
    with context.system_context("test check"), uow.unit_of_work() as session:
        staff = session.scalars(
            sa.select(StaffMember).where(StaffMember.clinic_id == clinic_id)
        ).all()
        return {m.email: (m.role, m.listed_publicly, m.password_hash) for m in staff}


def _seeded_as_admin(app) -> tuple[dict, dict[str, str]]:
    """Seed the demo, and the headers of its admin (a token from the real signing key)."""
    from tests.fixtures import ClinicHandle

    out = json.loads(app.test_cli_runner().invoke(seed_demo).output)
    clinic_id = uuid.UUID(out["clinic"]["id"])
    handle = ClinicHandle(clinic_id, "demo", app.config["SETTINGS"].token_issuer)
    with context.system_context("test check"), uow.unit_of_work() as session:
        admin_id = session.scalar(
            sa.select(StaffMember.id).where(
                StaffMember.clinic_id == clinic_id, StaffMember.role == "admin"
            )
        )
    return out, {"Authorization": f"Bearer {handle.token_for(admin_id, 'admin')}"}


def test_seed_demo_twice_creates_one_clinic_and_working_logins(app, settings):
    runner = app.test_cli_runner()
    first = runner.invoke(seed_demo)
    assert first.exit_code == 0, first.output
    second = runner.invoke(seed_demo)
    assert second.exit_code == 0, second.output
    out1, out2 = json.loads(first.output), json.loads(second.output)
    # Each run hands out a fresh partner link (the previous one stops working).
    assert out1.pop("partner_link") != out2.pop("partner_link")
    assert out1 == out2
    assert out1["clinic"]["slug"] == "demo"

    with context.system_context("test check"), uow.unit_of_work() as session:
        assert session.scalar(sa.select(sa.func.count()).where(Clinic.slug == "demo")) == 1
        docs = session.scalar(
            sa.select(OAuthClient).where(OAuthClient.client_id == settings.docs_client_id)
        )
        assert docs.kind == "frontend"
        assert docs.token_endpoint_auth_method == "none"
        assert docs.redirect_uris == [f"{settings.base_url}/docs/oauth2-redirect.html"]

    staff = _rows(uuid.UUID(out1["clinic"]["id"]))
    assert len(staff) == len(out1["logins"]) == 4
    assert sorted(role for role, _, _ in staff.values()) == [
        "admin",
        "supervisor",
        "therapist",
        "therapist",
    ]
    assert sum(listed for _, listed, _ in staff.values()) == 2
    for login in out1["logins"]:
        assert verify_secret(staff[login["email"]][2], login["password"])


def test_seed_demo_refuses_production(settings):
    with pytest.raises(demo.DemoRefused):
        demo.seed(dataclasses.replace(settings, env="production"))


def test_seed_demo_makes_three_couples_with_months_of_completed_sessions(app, client):
    out, headers = _seeded_as_admin(app)
    for couple in out["couples"]:
        listed = client.get(
            f"/v1/sessions?couple_id={couple['id']}&status=completed&limit=200", headers=headers
        ).json["items"]
        assert len(listed) >= demo.DEMO_WEEKS  # plus today's session with open links
        starts = sorted(item["starts_at"] for item in listed)
        assert starts[0] < starts[-1]  # spread over weeks


def test_seed_demo_histories_show_a_drop_a_split_and_a_missing_partner(app, client):
    out, headers = _seeded_as_admin(app)
    series = {
        c["label"]: client.get(f"/v1/couples/{c['id']}/alliance", headers=headers).json
        for c in out["couples"]
    }
    jordan = series["Jordan & Riley"]["partners"][0]["points"]
    assert jordan[0]["pct"] - jordan[-1]["pct"] >= 20  # a drop
    assert series["Priya & Tom"]["gaps"][-1]["gap_pct"] >= 20  # a split
    morgan = series["Lee & Morgan"]["partners"][1]["points"]
    assert len(morgan) == demo.DEMO_WEEKS - 3  # stopped answering
    token = out["partner_link"].rsplit("/", 1)[1]
    assert client.get(f"/v1/feedback-forms/{token}").status_code == 200


def test_preview_over_the_demo_history_matches_the_stored_alerts(app, client):
    _, headers = _seeded_as_admin(app)
    stored = client.get("/v1/alerts?limit=200", headers=headers).json["items"]
    fired = {rule for alert in stored for rule in alert["rules"]}
    assert fired >= {"split_alliance", "missing_feedback"}
    assert fired & {"personal_drop", "alliance_drop", "downward_trend"}  # Jordan's drift
    policy = client.get("/v1/alert-policy", headers=headers).json
    preview = client.post("/v1/alert-policy/preview", json=policy, headers=headers).json

    def key(alert):
        return (
            alert["couple_id"],
            alert["partner_id"],
            alert["concern"],
            alert["rule"],
            alert["severity"],
            alert["occurrences"],
            alert["first_session_id"],
            alert["last_session_id"],
        )

    assert preview["total"] == len(stored)
    assert {key(a) for a in preview["alerts"]} == {key(a) for a in stored}


def test_the_demos_stable_partners_raise_nothing(app, client):
    out, headers = _seeded_as_admin(app)
    stored = client.get("/v1/alerts?limit=200", headers=headers).json["items"]
    couples = {
        c["label"]: client.get(f"/v1/couples/{c['id']}", headers=headers).json
        for c in out["couples"]
    }
    stable = {
        partner["id"]: partner["display_name"]
        for label, position in (("Jordan & Riley", 1), ("Priya & Tom", 0), ("Lee & Morgan", 0))
        for partner in couples[label]["partners"]
        if partner["position"] == position + 1
    }
    assert {stable[a["partner_id"]] for a in stored if a["partner_id"] in stable} == set()
