"""The one scenario factory: a couple in care with N completed sessions and answers.

    care = CoupleInCare(client, clinic)                     # Ana and Ben answer in the clinic
    care = CoupleInCare(client, clinic, partners=EMAIL_AND_CLINIC, label="The Quinteros")
    care.session(ana=answers(8), ben=answers(9))            # one session, over the API
    care.history(200)                                       # many, through the same use-cases

Sessions go through the API as a clinic frontend drives them (schedule, complete, staff
entry); `history` runs the same use-cases in one transaction, so 200 sessions take seconds.
Traits are keyword arguments: who the partners are and how they answer (`partners`), the
couple's `label`, its `therapist`, and the week its sessions `start`.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from service.core import context
from service.core.context import Actor
from service.db import uow
from service.instruments.catalog import SAC8
from tests.practice import PAST, new_couple, new_session

ITEMS = [item["key"] for item in SAC8["items"]]
IN_CLINIC = [
    {"display_name": "Ana", "feedback_channel": "in_clinic"},
    {"display_name": "Ben", "feedback_channel": "in_clinic"},
]
EMAIL_AND_CLINIC = [
    {"display_name": "Ana Lima", "feedback_channel": "in_clinic"},
    {"display_name": "Ben Okoro", "email": "ben@example.org", "feedback_channel": "email"},
]


def answers(value: int = 8, **overrides: int) -> dict[str, int]:
    """SAC-8 answers: `value` for every item, except those named."""
    return dict.fromkeys(ITEMS, value) | overrides


class CoupleInCare:
    def __init__(
        self,
        client: Any,
        clinic: Any,
        *,
        partners: list[dict[str, Any]] = IN_CLINIC,
        label: str = "The Riveras",
        therapist: Any = None,
        start: datetime = PAST,
    ) -> None:
        self.client, self.clinic = client, clinic
        self.admin = clinic.staff("admin")
        self.therapist = therapist or clinic.staff("therapist")
        self.data = new_couple(
            client, self.admin, self.therapist.id, label=label, partners=partners
        )
        self.id = self.data["id"]
        self.ana, self.ben = (partner["id"] for partner in self.data["partners"])
        self.start, self.week = start, 0
        self.answered: list[dict[str, Any]] = []  # every staff-entered response, as returned

    def complete(self, *, time_share: tuple[int, int] | None = None) -> dict[str, Any]:
        """The next weekly session, held and completed: the completed session, with its links."""
        booked = new_session(
            self.client, self.admin, self.data, starts_at=self.start + timedelta(weeks=self.week)
        )
        self.week += 1
        body = (
            {"time_share": {self.ana: time_share[0], self.ben: time_share[1]}} if time_share else {}
        )
        done = self.client.post(
            f"/v1/sessions/{booked['id']}/complete", json=body, headers=self.therapist.headers
        )
        assert done.status_code == 200, done.json
        return done.json

    def session(
        self,
        ana: dict[str, int] | None = None,
        ben: dict[str, int] | None = None,
        *,
        time_share: tuple[int, int] | None = None,
        safety: bool = False,
    ) -> str:
        """One completed session in which each partner given answers answers (entered by the
        therapist); `safety` ticks Ana's private box. Returns the session id."""
        session_id = self.complete(time_share=time_share)["id"]
        for partner, given in ((self.ana, ana), (self.ben, ben)):
            if given is not None:
                self.enter(session_id, partner, given, safety=safety and partner == self.ana)
        return session_id

    def enter(self, session_id: str, partner: str, given: dict, *, safety: bool = False) -> None:
        sent = self.client.post(
            f"/v1/sessions/{session_id}/feedback",
            headers=self.therapist.headers,
            json={"partner_id": partner, "answers": given, "safety_concern": safety},
        )
        assert sent.status_code == 201, sent.json
        self.answered.append(sent.json)

    def history(self, count: int, *, value: int = 8) -> None:
        """`count` more weekly completed sessions in which Ana answers `value` to every item,
        through the use-cases the API calls, in one transaction."""
        from service.alerts import evaluation
        from service.therapy_sessions import service as sessions

        actor = Actor(
            kind="staff",
            subject=str(self.admin.id),
            clinic_id=self.clinic.id,
            roles=frozenset({"admin"}),
        )
        with context.tenant_context(self.clinic.id, actor), uow.unit_of_work():
            for _ in range(count):
                booked = sessions.schedule(
                    {
                        "couple_id": uuid.UUID(self.id),
                        "starts_at": self.start + timedelta(weeks=self.week),
                        "duration_minutes": 50,
                        "modality": "in_person",
                    }
                )
                self.week += 1
                sessions.complete(booked.id, None)
                evaluation.record_staff_entry(
                    booked.id,
                    {
                        "partner_id": uuid.UUID(self.ana),
                        "answers": answers(value),
                        "source": "staff_entry",
                    },
                )

    def alerts(self, **query: Any) -> list[dict[str, Any]]:
        response = self.client.get(
            "/v1/alerts", query_string={"couple_id": self.id, **query}, headers=self.admin.headers
        )
        assert response.status_code == 200, response.json
        return response.json["items"]

    def rules(self) -> dict[tuple[str, str | None], dict[str, Any]]:
        """Every rule that fired in an alert's latest finding (leading or not), with the
        partner it is about → that alert."""
        return {
            (rule, alert["partner_id"]): alert for alert in self.alerts() for rule in alert["rules"]
        }

    def concerns(self) -> dict[tuple[str, str | None], dict[str, Any]]:
        return {(alert["concern"], alert["partner_id"]): alert for alert in self.alerts()}
