"""The alert engine end to end over HTTP: one alert per concern, each rule, the lifecycle
(dedupe, escalation, recovery, snooze ending, resolve), caseload scoping, explanations,
outbox events, flat cost, and the policy backtest."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from service.core import context
from service.db import uow
from service.notifications.models import OutboxMessage
from tests.scenario import CoupleInCare, answers
from tests.sql_counter import count_statements

LOW = answers(7, heard=8)  # 71.25 %: below the 75 % cutoff
FINE = answers(8, heard=9)  # 81.25 %: above it, and 10 points from LOW (no split)


@pytest.fixture
def couple(client, clinic):
    return CoupleInCare(client, clinic)


def webhook_topics(clinic_id) -> list[str]:
    with context.system_context("test check"), uow.unit_of_work() as session:
        return list(
            session.scalars(
                sa.select(OutboxMessage.topic)
                .where(OutboxMessage.clinic_id == clinic_id, OutboxMessage.channel == "webhook")
                .order_by(OutboxMessage.created_at, OutboxMessage.id)
            )
        )


def test_high_scores_raise_nothing(couple):
    for _ in range(4):
        couple.session(answers(10), answers(10), time_share=(50, 50))
    assert couple.alerts() == []


def test_low_alliance_then_dedupe_on_a_second_low_session(couple):
    first = couple.session(LOW, FINE)
    [alert] = couple.alerts()
    assert (alert["concern"], alert["rule"], alert["partner_id"], alert["severity"]) == (
        "alliance",
        "low_alliance",
        couple.ana,
        "warning",
    )
    evidence = alert["evidence"]
    assert evidence["rule"] == "low_alliance" and evidence["rule_version"] >= 1
    assert evidence["computed"]["pct"] == 71.25 and evidence["thresholds"]["cutoff"] == 75
    second = couple.session(LOW, FINE)
    [again] = couple.alerts()
    assert again["id"] == alert["id"] and again["occurrences"] == 2
    assert (again["first_session_id"], again["last_session_id"]) == (first, second)


def test_several_rules_for_one_partner_make_one_alert_led_by_the_strongest(couple):
    """A steady partner's sharp fall: low, a drop from last time and from their own level.
    One alert carries all three; the personal baseline leads; each has its evidence."""
    for _ in range(3):
        couple.session(answers(10), answers(10))
    couple.session(answers(6), answers(10))  # 100 → 60 (and a split, its own concern)
    alert = couple.concerns()[("alliance", couple.ana)]
    assert alert["rules"][0] == "personal_drop"
    assert {"alliance_drop", "low_alliance"} <= set(alert["rules"])
    others = {other["rule"]: other for other in alert["evidence"]["others"]}
    assert others["alliance_drop"]["computed"]["drop"] == 40
    assert others["low_alliance"]["computed"]["pct"] == 60


def test_summary_and_explanation_name_the_partner_for_clinicians(couple):
    for _ in range(3):
        couple.session(answers(10), answers(10))
    couple.session(answers(6), answers(10))
    alert = couple.concerns()[("alliance", couple.ana)]
    assert alert["summary"] == "Ana rated this session well below their usual level"
    explanation = alert["explanation"]
    assert "Ana rated this session 60 %, 40 points below their usual 100 %" in explanation
    assert "Ana's rating fell from 100 % to 60 % since their previous answer" in explanation
    assert "drop threshold is 18 points" in explanation


def test_the_previous_answer_is_the_previous_answered_session(couple):
    couple.session(answers(10), answers(10))
    couple.session(None, answers(10))
    couple.session(None, answers(10))
    couple.session(answers(7), answers(10))  # 100 → 70, three sessions later
    drop = couple.rules()[("alliance_drop", couple.ana)]
    evidence = next(
        e for e in [drop["evidence"], *drop["evidence"]["others"]] if e["rule"] == "alliance_drop"
    )
    assert evidence["inputs"]["sessions_back"] == 3
    assert "3 sessions earlier" in drop["explanation"]


def test_downward_trend(couple):
    for pct in (100, 95, 90, 85, 80):  # 5 points a session: each fall small, the trend not
        couple.session(_pct(pct), answers(10))
    trend = couple.rules()[("downward_trend", couple.ana)]
    evidence = next(
        e
        for e in [trend["evidence"], *trend["evidence"]["others"]]
        if e["rule"] == "downward_trend"
    )
    assert evidence["computed"]["slope"] == -5 and evidence["computed"]["fall"] == 15


def _pct(pct: float) -> dict[str, int]:
    """SAC-8 answers whose total is as close to `pct` as 1.25-point steps allow."""
    total = round(pct * 0.8)
    base, extra = divmod(total, 8)
    keys = list(answers(0))
    return {key: base + (1 if index < extra else 0) for index, key in enumerate(keys)}


def test_split_alliance_names_the_lower_partner_and_escalates_when_the_same_one_stays_lower(
    couple,
):
    couple.session(answers(10), answers(8, heard=6))  # 100 vs 77.5: gap 22.5, Ben lower
    [split] = couple.alerts()
    assert (split["concern"], split["partner_id"], split["severity"]) == (
        "split",
        couple.ben,
        "warning",
    )
    assert split["evidence"]["computed"]["lower_partner_id"] == couple.ben
    assert couple.alerts(partner_id=couple.ben) == [split]  # the partner filter finds it
    couple.session(answers(10), answers(8, heard=6))  # Ben lower again, two sessions running
    [escalated] = couple.alerts()
    assert escalated["id"] == split["id"] and escalated["severity"] == "critical"
    assert escalated["occurrences"] == 2
    history = couple.client.get(f"/v1/alerts/{split['id']}", headers=couple.therapist.headers).json[
        "history"
    ]
    assert [(o["kind"], o["severity"]) for o in history] == [
        ("created", "warning"),
        ("escalated", "critical"),
    ]
    assert history[1]["severity_rose"] == {
        "from": "warning",
        "to": "critical",
        "because": "split_alliance",
    }


def test_a_split_does_not_escalate_when_the_lower_partner_flips(couple):
    couple.session(answers(10), answers(8, heard=6))  # Ben lower
    couple.session(answers(8, heard=6), answers(10))  # now Ana lower, as wide
    [split] = [alert for alert in couple.alerts() if alert["concern"] == "split"]
    assert split["severity"] == "warning" and split["partner_id"] == couple.ana
    assert split["evidence"]["computed"]["same_partner_lower"] is False


def test_watch_item(couple):
    couple.session(answers(10, balance=4), answers(10))  # 40 % of the balance range
    alert = couple.rules()[("watch_item", couple.ana)]
    assert "balance" in json.dumps(alert["evidence"])
    assert "balance" in alert["explanation"]


def test_airtime_imbalance_two_sessions_running(couple):
    couple.session(answers(10), answers(10), time_share=(70, 30))
    assert ("airtime_imbalance", couple.ben) not in couple.rules()
    couple.session(answers(10), answers(10), time_share=(66, 34))
    alert = couple.rules()[("airtime_imbalance", couple.ben)]
    assert alert["severity"] == "info" and alert["concern"] == "airtime"


def test_missing_feedback(couple):
    couple.session(answers(10), None)
    couple.session(answers(10), None)
    assert ("missing_feedback", couple.ben) not in couple.rules()  # the newest may still come
    couple.session(answers(10), answers(10))
    alert = couple.rules()[("missing_feedback", couple.ben)]
    assert alert["severity"] == "warning" and alert["concern"] == "silence"


def test_partners_who_are_not_asked_raise_no_missing_feedback(client, clinic):
    quiet = CoupleInCare(
        client,
        clinic,
        partners=[
            {"display_name": "Ana", "feedback_channel": "in_clinic"},
            {"display_name": "Ben", "feedback_channel": "none"},
        ],
    )
    for _ in range(3):
        quiet.session(answers(10), None)
    assert quiet.alerts() == []


def test_an_erased_partner_raises_no_missing_feedback(client, clinic):
    care = CoupleInCare(client, clinic)
    care.session(answers(10), answers(10))
    erased = client.post(f"/v1/partners/{care.ben}/erase", headers=care.admin.headers)
    assert erased.status_code == 200, erased.json
    for _ in range(3):
        care.session(answers(10), None)
    assert care.alerts() == []


def test_both_partners_silent_is_a_couple_silent_alert(couple):
    from service.alerts import evaluation

    couple.session(answers(10), answers(10))
    silent = [couple.complete()["id"] for _ in range(2)]
    with context.tenant_context(couple.clinic.id), uow.unit_of_work():
        evaluation.judge_silences({uuid.UUID(s) for s in silent})
    [alert] = couple.alerts()
    assert (alert["concern"], alert["rule"], alert["partner_id"]) == (
        "silence",
        "couple_silent",
        None,
    )
    assert alert["summary"] == "Neither partner has given feedback for 2 sessions"


def test_safety_concern_is_critical_at_once_and_for_clinicians_only(couple):
    couple.session(answers(10), answers(10), safety=True)
    alert = couple.rules()[("safety_concern", couple.ana)]
    assert alert["severity"] == "critical" and alert["concern"] == "safety"
    ehr = couple.clinic.integrator("alerts.read")
    seen = couple.client.get(f"/v1/alerts?couple_id={couple.id}", headers=ehr.headers)
    assert seen.status_code == 200 and seen.json["items"] == []
    # The private box never reaches integrators' webhooks (the session's and the answer's
    # own events carry ids alone).
    assert not [t for t in webhook_topics(couple.clinic.id) if t.startswith("alert.")]


def test_reliable_drop_with_the_jacobson_truax_vector(client, clinic):
    couple = CoupleInCare(client, clinic)
    made = client.post(
        "/v1/instruments",
        headers=couple.admin.headers,
        json={
            "key": "four-items",
            "kind": "alliance",
            "title": {"en": "Four"},
            "norms": {"sd": 6.14, "reliability": 0.75},
            "items": [
                {"key": k, "text": {"en": k}, "min": 0, "max": 10} for k in ("a", "b", "c", "d")
            ],
        },
    )
    assert made.status_code == 201, made.json
    client.post(f"/v1/instruments/{made.json['id']}/default", headers=couple.admin.headers)
    full = {"a": 9, "b": 9, "c": 9, "d": 8}  # 35
    couple.session(full, full)
    couple.session({"a": 6, "b": 6, "c": 6, "d": 6}, {"a": 7, "b": 7, "c": 7, "d": 6})  # 24, 27
    found = couple.rules()
    reliable = found[("reliable_drop", couple.ana)]
    assert reliable["severity"] == "critical"
    evidence = reliable["evidence"]
    computed = next(e for e in [evidence, *evidence["others"]] if e["rule"] == "reliable_drop")[
        "computed"
    ]
    assert (computed["previous"], computed["current"], computed["change"]) == (35, 24, -11)
    assert computed["threshold"] == pytest.approx(8.51, abs=0.01)
    assert computed["rc_index"] == pytest.approx(-2.53, abs=0.01)
    assert ("reliable_drop", couple.ben) not in found  # 35 -> 27 is not reliable


def test_switching_to_a_normed_instrument_raises_no_reliable_drop(client, clinic):
    """sac-8 at 72/80 (90 %), then an SRS-shaped instrument at 36/40 (90 %): raw totals of two
    instruments are never compared; the new one starts a new baseline."""
    couple = CoupleInCare(client, clinic)
    for _ in range(2):
        couple.session(answers(9), answers(9))  # 72 of 80
    srs = client.post(
        "/v1/instruments",
        headers=couple.admin.headers,
        json={
            "key": "srs-shaped",
            "kind": "alliance",
            "title": {"en": "Four visual scales"},
            "norms": {"sd": 6.14, "reliability": 0.75},
            "cutoff_pct": 90,
            "items": [
                {"key": k, "text": {"en": k}, "min": 0, "max": 10} for k in ("a", "b", "c", "d")
            ],
        },
    )
    client.post(f"/v1/instruments/{srs.json['id']}/default", headers=couple.admin.headers)
    same = {"a": 9, "b": 9, "c": 9, "d": 9}  # 36 of 40
    couple.session(same, same)
    assert couple.alerts() == []
    couple.session(same, same)
    assert couple.alerts() == []


def test_acknowledge_snooze_resolve_and_a_resolved_alert_never_reopens(couple):
    couple.session(LOW, FINE)
    [alert] = couple.alerts()
    headers = couple.therapist.headers
    url = f"/v1/alerts/{alert['id']}"
    acked = couple.client.post(f"{url}/acknowledge", headers=headers)
    assert acked.status_code == 200 and acked.json["status"] == "acknowledged"
    past = couple.client.post(
        f"{url}/snooze", headers=headers, json={"until": "2020-01-01T00:00:00Z"}
    )
    assert past.status_code == 422 and "until" in past.json["errors"]
    until = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    assert (
        couple.client.post(f"{url}/snooze", headers=headers, json={"until": until}).json["status"]
        == "snoozed"
    )
    done = couple.client.post(f"{url}/resolve", headers=headers, json={"note": "Talked it over"})
    assert done.json["status"] == "resolved" and done.json["resolution_note"] == "Talked it over"
    assert couple.client.post(f"{url}/acknowledge", headers=headers).status_code == 409
    couple.session(LOW, FINE)
    alerts = couple.alerts()
    assert len(alerts) == 2 and {a["status"] for a in alerts} == {"resolved", "open"}


def test_a_snooze_ends_at_its_until_and_the_alert_is_open_again(couple, travel):
    from service.alerts import service as alerts

    couple.session(LOW, FINE)
    [alert] = couple.alerts()
    until = datetime.now(UTC) + timedelta(minutes=10)
    snoozed = couple.client.post(
        f"/v1/alerts/{alert['id']}/snooze",
        headers=couple.therapist.headers,
        json={"until": until.isoformat()},
    )
    assert snoozed.json["status"] == "snoozed"
    with context.system_context("test job"), uow.unit_of_work():
        assert alerts.wake_snoozed(datetime.now(UTC)) == 0  # not yet
    travel.advance(timedelta(minutes=11))
    from service.core.clock import utcnow

    with context.system_context("test job"), uow.unit_of_work():
        assert alerts.wake_snoozed(utcnow()) == 1
    [woken] = couple.alerts()
    assert woken["status"] == "open"
    assert "alert.updated" in webhook_topics(couple.clinic.id)


def test_an_alert_whose_condition_stops_holding_is_marked_recovered(couple):
    couple.session(LOW, FINE)
    [alert] = couple.alerts()
    couple.session(FINE, FINE)
    assert couple.alerts()[0]["recovered_at"] is None  # one good session is not yet recovery
    couple.session(FINE, FINE)
    [recovered] = couple.alerts()
    assert recovered["id"] == alert["id"] and recovered["recovered_at"] is not None
    assert recovered["status"] == "open"  # still a person's to resolve
    assert couple.alerts(recovered="true") == [recovered]
    assert couple.alerts(recovered="false") == []
    couple.session(LOW, FINE)  # the condition returns: the same alert, active again
    [back] = couple.alerts()
    assert back["id"] == alert["id"] and back["recovered_at"] is None


def test_a_late_answer_for_an_older_session_never_moves_the_last_session_back(couple):
    older = couple.complete()["id"]
    newer = couple.session(LOW, FINE)
    couple.enter(older, couple.ana, LOW)  # entered afterwards, for the earlier session
    [alert] = couple.alerts()
    assert alert["last_session_id"] == newer and alert["occurrences"] == 2


def test_therapists_see_alerts_of_their_caseload_only(client, clinic, couple):
    couple.session(LOW, FINE)
    [alert] = couple.alerts()
    stranger = clinic.staff("therapist")
    assert client.get(f"/v1/alerts/{alert['id']}", headers=stranger.headers).status_code == 404
    assert client.get("/v1/alerts", headers=stranger.headers).json["items"] == []
    assert (
        client.get(f"/v1/alerts/{alert['id']}", headers=couple.therapist.headers).status_code == 200
    )


def test_filters(couple):
    couple.session(LOW, FINE, safety=True)
    assert {a["rule"] for a in couple.alerts(severity="critical")} == {"safety_concern"}
    assert [a["rule"] for a in couple.alerts(rule="low_alliance")] == ["low_alliance"]
    assert [a["concern"] for a in couple.alerts(concern="alliance")] == ["alliance"]
    assert couple.alerts(partner_id=couple.ben) == []
    assert couple.alerts(status="resolved") == []


def test_every_alert_change_writes_an_outbox_event_without_phi(couple):
    couple.session(LOW, FINE)
    [alert] = couple.alerts()
    couple.client.post(
        f"/v1/alerts/{alert['id']}/resolve", json={}, headers=couple.therapist.headers
    )
    with context.system_context("test check"), uow.unit_of_work() as session:
        events = session.scalars(
            sa.select(OutboxMessage)
            .where(OutboxMessage.clinic_id == couple.clinic.id, OutboxMessage.channel == "webhook")
            .order_by(OutboxMessage.created_at)
        ).all()
    assert [e.topic for e in events if e.topic.startswith("alert.")] == [
        "alert.created",
        "alert.resolved",
    ]
    assert next(e for e in events if e.topic == "alert.created").payload["alert_id"] == alert["id"]
    assert "Ana" not in json.dumps([e.payload for e in events])


def test_the_alliance_series_shows_active_alerts(couple):
    couple.session(LOW, FINE)
    series = couple.client.get(
        f"/v1/couples/{couple.id}/alliance", headers=couple.therapist.headers
    ).json
    assert [a["rule"] for a in series["alerts"]] == ["low_alliance"]
    assert series["alerts"][0]["summary"] == "Ana's alliance rating is low"
    chart = couple.client.get(
        f"/v1/couples/{couple.id}/alliance.svg", headers=couple.therapist.headers
    ).get_data(as_text=True)
    assert "Active alerts: low alliance (warning)." in chart and "Active alert" in chart


def test_alert_policy_get_put_with_etag_and_validation(client, clinic):
    admin = clinic.staff("admin")
    got = client.get("/v1/alert-policy", headers=admin.headers)
    assert got.status_code == 200 and got.json["split_alliance"]["threshold"] == 20
    assert got.json["split_alliance"]["widen"] == 5
    changed = {**got.json, "split_alliance": {**got.json["split_alliance"], "threshold": 15}}
    put = client.put(
        "/v1/alert-policy", json=changed, headers={**admin.headers, "If-Match": got.headers["ETag"]}
    )
    assert put.status_code == 200 and put.json["split_alliance"]["threshold"] == 15
    stale = client.put(
        "/v1/alert-policy", json=changed, headers={**admin.headers, "If-Match": got.headers["ETag"]}
    )
    assert stale.status_code == 412
    nonsense = {**got.json, "split_alliance": {**got.json["split_alliance"], "threshold": -5}}
    bad = client.put("/v1/alert-policy", json=nonsense, headers=admin.headers)
    assert bad.status_code == 422 and "split_alliance.threshold" in bad.json["errors"]
    misplaced = {**got.json, "low_alliance": {**got.json["low_alliance"], "widen": 5}}
    bad = client.put("/v1/alert-policy", json=misplaced, headers=admin.headers)
    assert bad.status_code == 422 and "low_alliance.widen" in bad.json["errors"]
    therapist = clinic.staff("therapist")
    assert (
        client.put("/v1/alert-policy", json=changed, headers=therapist.headers).status_code == 403
    )


def test_a_policy_switching_a_rule_off_stops_it(client, clinic):
    couple = CoupleInCare(client, clinic)
    policy = client.get("/v1/alert-policy", headers=couple.admin.headers).json
    policy["low_alliance"]["enabled"] = False
    assert (
        client.put("/v1/alert-policy", json=policy, headers=couple.admin.headers).status_code == 200
    )
    couple.session(LOW, FINE)
    assert couple.alerts() == []


def test_preview_of_the_current_policy_matches_what_was_stored(client, clinic):
    couple = CoupleInCare(client, clinic)
    for ana, ben in ((10, 10), (9, 7), (8, 6), (8, None), (7, None), (9, 9), (5, 9)):
        couple.session(answers(ana), answers(ben) if ben else None, time_share=(70, 30))
    policy = client.get("/v1/alert-policy", headers=couple.admin.headers).json
    preview = client.post("/v1/alert-policy/preview", json=policy, headers=couple.admin.headers)
    assert preview.status_code == 200, preview.json
    shape = ("concern", "rule", "partner_id", "severity", "occurrences")
    stored = {tuple(a[k] for k in shape) for a in couple.alerts(limit=200)}
    previewed = {tuple(a[k] for k in shape) for a in preview.json["alerts"]}
    assert previewed == stored and preview.json["total"] == len(stored)
    assert preview.json["couple_sessions"] == 7
    assert preview.json["alerts_per_100_couple_sessions"] > 0
    stricter = {**policy, "split_alliance": {**policy["split_alliance"], "enabled": False}}
    fewer = client.post("/v1/alert-policy/preview", json=stricter, headers=couple.admin.headers)
    assert fewer.json["total"] < preview.json["total"]
    assert len(couple.alerts(limit=200)) == len(stored)  # the preview wrote nothing


@pytest.mark.postgres_only
def test_submission_cost_is_flat_in_history_length(client, clinic):
    from service.alerts import evaluation

    early = datetime(2020, 1, 6, 10, 0, tzinfo=UTC)  # 200 weekly sessions end in the past
    couple = CoupleInCare(client, clinic, start=early)
    counts = {}
    for target in (5, 200):
        couple.history(target - 1 - couple.week)
        session_id = couple.complete()["id"]
        with count_statements() as statements:
            couple.enter(session_id, couple.ana, answers(8))
        counts[target] = len(statements)
    assert counts[5] == counts[200], counts
    assert evaluation.WINDOW < 200


def test_reading_alerts_is_audited(couple):
    couple.session(LOW, FINE)
    [alert] = couple.alerts()  # a list read
    couple.client.get(f"/v1/alerts/{alert['id']}", headers=couple.therapist.headers)
    events = couple.client.get(
        f"/v1/audit-events?resource_id={alert['id']}&action=read", headers=couple.admin.headers
    ).json["items"]
    assert {e["actor_id"] for e in events} == {str(couple.admin.id), str(couple.therapist.id)}


def test_the_chart_shows_the_cutoff_each_alert_and_each_missed_session(client, clinic):
    care = CoupleInCare(
        client,
        clinic,
        partners=[{"display_name": "A $\\frac{$ B"}, {"display_name": "Ben <b>"}],
    )
    care.session(answers(10), answers(10))
    care.session(answers(10), None)  # Ben did not answer
    care.session(answers(6), answers(10))  # Ana's drop: an alert on her line
    svg = client.get(f"/v1/couples/{care.id}/alliance.svg", headers=care.therapist.headers)
    assert svg.status_code == 200
    root = ET.fromstring(svg.data)  # noqa: S314 - our own response
    text = svg.get_data(as_text=True)
    assert "Cutoff 75%" in text  # a line, labelled
    assert "Drop (warning)" in text and "Split (warning)" in text  # alerts, by rule
    assert "Ben &lt;b&gt;: no answer on" in text  # the missed session, on Ben's line
    words = "".join(root.itertext())
    assert "A $\\frac{$ B" in words and "Ben <b>" in words  # names are text, never markup
