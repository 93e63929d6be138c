"""Set-based seeding for the benches: clinics, therapists, couples of two partners, completed
weekly sessions and both partners' answers, written with a few INSERT ... SELECT statements
as the table owner (no app code, so seeding a million rows takes seconds, not hours).

Ids are derived from a clinic's number and a couple's number (md5 of a tag), so a bench can
name the rows it seeded without reading them back.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

SAC8_ID = "018f0000-0000-7000-8000-000000005ac8"
ITEMS = ("heard", "respect", "openness", "goals", "approach", "balance", "airtime", "confidence")
ANSWERS = dict.fromkeys(ITEMS, 8)  # 64 of 80: no rule fires on a steady 80 %
FIRST_SESSION = datetime(2020, 1, 6, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Couples:
    """Couples number `first`..`last` of `clinic` (all treated by `therapist`)."""

    clinic: str
    therapist: str
    first: int
    last: int

    def couple_id(self, number: int) -> str:
        return _derived(f"c{self.clinic}-{number}")

    def partner_id(self, number: int, position: int) -> str:
        return _derived(f"p{self.clinic}-{number}-{position}")


def _derived(tag: str) -> str:
    """The same uuid PostgreSQL's md5(tag)::uuid gives."""
    return str(uuid.UUID(hashlib.md5(tag.encode()).hexdigest()))  # noqa: S324 - an id, not a hash


def add_clinics(conn: psycopg.Connection, count: int, tag: str = "bench") -> list[tuple[str, str]]:
    """`count` clinics with one therapist each: their (clinic id, therapist id)."""
    conn.execute(
        "INSERT INTO clinics (id, created_at, version, updated_at, name, slug, timezone, locale, "
        "cors_origins, feedback_settings, email_policy) SELECT md5(%(tag)s || k)::uuid, now(), "
        "1, now(), 'Clinic ' || k, %(tag)s || '-' || k, 'UTC', 'en', '[]', '{}', '{}' "
        "FROM generate_series(1, %(count)s) k",
        {"tag": tag, "count": count},
    )
    conn.execute(
        "INSERT INTO staff_members (id, clinic_id, created_at, version, updated_at, email, role, "
        "active, display_name, approaches, languages, accepting_new, listed_publicly, "
        "alert_emails) SELECT md5(%(tag)s || 't' || k)::uuid, md5(%(tag)s || k)::uuid, now(), "
        "1, now(), 'therapist' || k || '@bench.test', 'therapist', true, 'Therapist ' || k, "
        "'[]', '[]', false, false, 'immediate' FROM generate_series(1, %(count)s) k",
        {"tag": tag, "count": count},
    )
    return [(_derived(f"{tag}{k}"), _derived(f"{tag}t{k}")) for k in range(1, count + 1)]


def add_couples(conn: psycopg.Connection, couples: list[Couples], sessions: int) -> None:
    """The couples, their partners (in-clinic feedback), `sessions` completed weekly sessions
    each and both partners' answers to every one."""
    spans = json.dumps([c.__dict__ for c in couples])
    each = (
        "FROM jsonb_to_recordset(%(spans)s::jsonb) AS s(clinic uuid, therapist uuid, "
        "first int, last int), LATERAL generate_series(s.first, s.last) g"
    )
    couple = "md5('c' || s.clinic || '-' || g)::uuid"
    values = {"spans": spans, "sessions": sessions, "start": FIRST_SESSION}
    conn.execute(
        "INSERT INTO couples (id, clinic_id, created_at, version, updated_at, label, "
        f"therapist_id, status, shared_goals) SELECT {couple}, s.clinic, now(), 1, now(), "
        f"'Couple ' || g, s.therapist, 'active', '[]' {each}",
        values,
    )
    conn.execute(
        "INSERT INTO partners (id, clinic_id, created_at, version, updated_at, couple_id, "
        "position, display_name, personal_goals, feedback_channel) SELECT "
        "md5('p' || s.clinic || '-' || g || '-' || p)::uuid, s.clinic, now(), 1, now(), "
        f"{couple}, p, 'Partner ' || g || '-' || p, '[]', 'in_clinic' {each}, "
        "generate_series(1, 2) p",
        values,
    )
    if sessions:
        add_sessions(conn, couples, 0, sessions, answered=True)


def add_sessions(
    conn: psycopg.Connection, couples: list[Couples], first_week: int, weeks: int, *, answered: bool
) -> None:
    """Completed sessions in weeks first_week..first_week+weeks-1 for every couple, with both
    partners' answers when `answered` (links for unanswered ones are the caller's)."""
    spans = json.dumps([c.__dict__ for c in couples])
    each = (
        "FROM jsonb_to_recordset(%(spans)s::jsonb) AS s(clinic uuid, therapist uuid, "
        "first int, last int), LATERAL generate_series(s.first, s.last) g, "
        "LATERAL generate_series(%(first_week)s::int, %(last_week)s::int) w"
    )
    session = "md5('s' || s.clinic || '-' || g || '-' || w)::uuid"
    # One therapist sees a clinic's couples in turn: an hour apart within the week.
    starts = "%(start)s::timestamptz + w * interval '7 days' + g * interval '1 hour'"
    values = {
        "spans": spans,
        "first_week": first_week,
        "last_week": first_week + weeks - 1,
        "start": FIRST_SESSION,
        "sac8": SAC8_ID,
        "answers": json.dumps(ANSWERS),
    }
    conn.execute(
        "INSERT INTO therapy_sessions (id, clinic_id, created_at, version, updated_at, "
        "couple_id, therapist_id, starts_at, ends_at, duration_minutes, modality, status, "
        f"completed_at) SELECT {session}, s.clinic, now(), 1, now(), "
        f"md5('c' || s.clinic || '-' || g)::uuid, s.therapist, {starts}, "
        f"{starts} + interval '50 minutes', 50, 'in_person', 'completed', "
        f"{starts} + interval '50 minutes' {each}",
        values,
    )
    if answered:
        conn.execute(
            "INSERT INTO feedback_responses (id, clinic_id, created_at, session_id, partner_id, "
            "couple_id, session_at, instrument_id, instrument_version, answers, total, pct, "
            f"source, safety_concern) SELECT gen_random_uuid(), s.clinic, now(), {session}, "
            "md5('p' || s.clinic || '-' || g || '-' || p)::uuid, "
            f"md5('c' || s.clinic || '-' || g)::uuid, {starts}, %(sac8)s, 1, %(answers)s, 64, "
            f"80, 'staff_entry', false {each}, generate_series(1, 2) p",
            values,
        )


def session_id(couples: Couples, number: int, week: int) -> str:
    return _derived(f"s{couples.clinic}-{number}-{week}")
