"""The policy preview (`POST /v1/alert-policy/preview`): replay a candidate policy over the
clinic's whole history, writing nothing, through the same engine live evaluation uses
(service.alerts.replay). It reports the alerts the policy would have raised and the same
counts `bench/alert_quality.py` prints for a synthetic caseload: alerts per 100
couple-sessions, per leading rule, and the alert emails it would have sent."""

from __future__ import annotations

from collections import Counter
from typing import Any

from service.alerts import evaluation, lifecycle, rules
from service.alerts import service as alerts
from service.alerts.replay import Replay, Session
from service.couples import service as couples
from service.db import uow
from service.feedback import history
from service.feedback.history import History

SAMPLE = 50


def preview(data: dict[str, Any]) -> dict[str, Any]:
    candidate = alerts.parse_policy(data)
    final: dict[str, tuple[str, lifecycle.AlertState]] = {}
    raised: Counter[str] = Counter()
    couple_sessions = emails = 0
    for couple_id in uow.session().scalars(couples.COUPLES.ids()):
        found = history.history(couple_id)
        replay = Replay(
            str(couple_id),
            [str(p.id) for p in found.couple.partners],
            candidate,
            instrument=_instrument_of(found),
        )
        events = replay.run([_session(found, booked) for booked in found.sessions])
        couple_sessions += len(found.sessions)
        raised.update(e.step.state.rule for e in events if e.step.change.is_news)
        emails += len({(e.session_index, e.submission) for e in events if e.notified})
        final.update({key: (str(couple_id), state) for key, state in replay.alerts.items()})
    return _report(final, raised, couple_sessions, emails)


def _report(
    final: dict[str, tuple[str, lifecycle.AlertState]],
    raised: Counter[str],
    couple_sessions: int,
    emails: int,
) -> dict[str, Any]:
    counts = Counter((state.rule, state.severity) for _, state in final.values())
    per_100 = 100 / couple_sessions if couple_sessions else 0.0
    return {
        "total": len(final),
        "counts": [{"rule": r, "severity": s, "count": n} for (r, s), n in sorted(counts.items())],
        "alerts": [_item(couple_id, state) for couple_id, state in final.values()][:SAMPLE],
        "couple_sessions": couple_sessions,
        "alerts_per_100_couple_sessions": round(sum(raised.values()) * per_100, 2),
        "raised_by_rule": [
            {"rule": rule, "raised": n, "per_100_couple_sessions": round(n * per_100, 2)}
            for rule, n in sorted(raised.items())
        ],
        "emails": emails,
    }


def _session(found: History, booked: Any) -> Session:
    answered = sorted(found.responses.get(booked.id, []), key=lambda r: (r.created_at, r.id))
    return Session(
        session_id=str(booked.id),
        session_at=booked.starts_at,
        answers=[(str(r.partner_id), evaluation.observation(r, found)) for r in answered],
        time_shares=booked.time_shares,
        asked=evaluation.asked(found.couple),
    )


def _instrument_of(found: History) -> Any:
    by_key = {f"{i.key}@{i.version}": i for i in found.instruments.values()}

    def norms_and_cutoff(key: str) -> tuple[rules.Norms | None, float | None]:
        instrument = by_key.get(key)
        if instrument is None:
            return None, None
        norms = rules.Norms(**instrument.norms) if instrument.norms else None
        return norms, instrument.cutoff_pct

    return norms_and_cutoff


def _item(couple_id: str, state: lifecycle.AlertState) -> dict[str, Any]:
    return {
        "couple_id": couple_id,
        "partner_id": state.partner_id,
        "concern": state.concern,
        "rule": state.rule,
        "severity": state.severity,
        "occurrences": state.occurrences,
        "first_session_id": state.first_session_id,
        "last_session_id": state.last_session_id,
        "recovered": state.recovered,
        "evidence": state.evidence,
    }
