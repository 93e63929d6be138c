"""The partner's submit as the database sees it: one transaction with a bounded number of
statements (the same at the 5th and the 200th session), links that name their clinic, and two
partners answering at once judged one after the other."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa

from service.core import context
from service.core.ids import digest, new_secret, routed_secret
from service.db import uow
from service.feedback.models import FeedbackRequest
from tests.practice import PAST
from tests.scenario import CoupleInCare, answers
from tests.sql_counter import count_statements

QUIET_BUDGET = 12  # nothing new to say: read, record, publish
NEWS_BUDGET = 13  # an alert raised and another one updated in the same submission


def _submit(client, url: str, given: dict) -> list[str]:
    token = url.rsplit("/", 1)[1]
    with count_statements() as seen:
        sent = client.post(f"/v1/feedback-forms/{token}", json={"answers": given})
    assert sent.status_code == 201, sent.json
    return [s for s in seen if not s.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


def _statements_at(client, clinic, sessions_before: int, given: dict) -> list[str]:
    care = CoupleInCare(client, clinic, start=PAST - timedelta(weeks=sessions_before))
    care.history(sessions_before)
    done = care.complete()
    return _submit(client, done["feedback_links"][0]["url"], given)


@pytest.mark.parametrize(
    ("given", "budget"), [(answers(8), QUIET_BUDGET), (answers(2), NEWS_BUDGET)]
)
def test_a_submit_is_one_transaction_of_bounded_statements_at_session_5_and_200(
    client, clinic, given, budget
):
    counts = {}
    for before in (5, 200):
        statements = _statements_at(client, clinic, before, given)
        if uow.database().engine.dialect.name == "postgresql":
            assert sum("SET LOCAL app.clinic_id" in s for s in statements) == 1  # one tx
        counts[before] = len(statements)
    assert counts[5] == counts[200] <= budget, counts


def test_a_link_names_its_clinic_and_opens_nothing_elsewhere(client, clinic, other_clinic):
    care = CoupleInCare(client, clinic)
    url = care.complete()["feedback_links"][0]["url"]
    token = url.rsplit("/", 1)[1]
    elsewhere = routed_secret(other_clinic.id)[:22] + token[22:]
    refused = client.post(f"/v1/feedback-forms/{elsewhere}", json={"answers": answers(8)})
    assert refused.status_code == 404
    assert (
        client.post(f"/v1/feedback-forms/{token}", json={"answers": answers(8)}).status_code == 201
    )


def test_links_sent_before_tokens_named_their_clinic_still_work(client, clinic):
    care = CoupleInCare(client, clinic)
    done = care.complete()
    old_style = new_secret()  # 43 characters, no clinic in it
    with context.tenant_context(clinic.id), uow.unit_of_work() as session:
        session.execute(
            sa.update(FeedbackRequest)
            .where(
                FeedbackRequest.session_id == uuid.UUID(done["id"]),
                FeedbackRequest.partner_id == uuid.UUID(care.ana),
            )
            .values(token_hash=digest(old_style))
        )
    form = client.get(f"/v1/feedback-forms/{old_style}")
    assert form.status_code == 200, form.json
    sent = client.post(f"/v1/feedback-forms/{old_style}", json={"answers": answers(8)})
    assert sent.status_code == 201, sent.json
    assert (
        client.post(f"/v1/feedback-forms/{old_style}", json={"answers": answers(8)}).status_code
        == 409
    )


@pytest.mark.postgres_only
def test_two_partners_answering_at_once_are_judged_one_after_the_other(live_server, client, clinic):
    """The second evaluation waits for the first and reads its answer: one split alert."""
    for _ in range(5):
        care = CoupleInCare(client, clinic)
        care.session(answers(9), answers(9))
        links = {link["partner_id"]: link["url"] for link in care.complete()["feedback_links"]}
        codes = _at_once(
            live_server, [(links[care.ana], answers(2)), (links[care.ben], answers(10))]
        )
        assert codes == [201, 201]
        assert [a["concern"] for a in care.alerts()].count("split") == 1


def _at_once(live_server: str, posts: list[tuple[str, dict]]) -> list[int]:
    barrier = threading.Barrier(len(posts))
    codes: list[int] = []

    def send(url: str, given: dict) -> None:
        token = url.rsplit("/", 1)[1]
        barrier.wait()
        url = f"{live_server}/v1/feedback-forms/{token}"
        sent = requests.post(url, json={"answers": given}, timeout=30)
        codes.append(sent.status_code)

    threads = [threading.Thread(target=send, args=post) for post in posts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes
