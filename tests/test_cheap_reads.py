"""Reads that stay cheap: the alliance chart is drawn once per change of what it shows and
answered 304 when the client already holds it (still audited, still scoped), and every list
costs the same statements for a page of 2 or of 200."""

from __future__ import annotations

from tests.scenario import CoupleInCare, answers
from tests.sql_counter import count_statements


def _chart(care: CoupleInCare, *, etag: str | None = None, caller=None):
    headers = dict((caller or care.therapist).headers)
    if etag:
        headers["If-None-Match"] = etag
    return care.client.get(f"/v1/couples/{care.id}/alliance.svg", headers=headers)


def _chart_reads(care: CoupleInCare) -> int:
    found = care.client.get(
        f"/v1/audit-events?resource_id={care.id}&action=read", headers=care.admin.headers
    )
    return sum(event["resource_type"] == "alliance_chart" for event in found.json["items"])


def test_a_chart_the_client_holds_is_answered_304_and_still_audited(client, clinic):
    care = CoupleInCare(client, clinic)
    care.session(answers(9), answers(8))
    first = _chart(care)
    assert first.status_code == 200 and first.headers["ETag"]
    assert first.headers["Cache-Control"] == "private, no-cache"
    again = _chart(care, etag=first.headers["ETag"])
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == first.headers["ETag"]
    assert _chart(care, etag=f"W/{first.headers['ETag']}").status_code == 304
    assert _chart(care, etag='"something-else"').status_code == 200
    assert _chart_reads(care) == 4


def test_the_chart_changes_with_what_it_shows(client, clinic):
    care = CoupleInCare(client, clinic)
    care.session(answers(9), answers(9))
    tags = [_chart(care).headers["ETag"]]

    care.session(answers(4), answers(9))  # a new point, and alerts
    drawn = _chart(care, etag=tags[-1])
    assert drawn.status_code == 200 and "40%" in drawn.get_data(as_text=True)
    tags.append(drawn.headers["ETag"])

    renamed = client.patch(
        f"/v1/partners/{care.ana}", json={"display_name": "Anabel Lima"}, headers=care.admin.headers
    )
    assert renamed.status_code == 200, renamed.json
    drawn = _chart(care, etag=tags[-1])
    assert drawn.status_code == 200 and "Anabel Lima" in drawn.get_data(as_text=True)
    tags.append(drawn.headers["ETag"])

    alert = care.alerts()[0]
    resolved = client.post(
        f"/v1/alerts/{alert['id']}/resolve",
        json={"note": "Talked it through."},
        headers=care.therapist.headers,
    )
    assert resolved.status_code == 200, resolved.json
    drawn = _chart(care, etag=tags[-1])
    assert drawn.status_code == 200
    tags.append(drawn.headers["ETag"])
    assert len(set(tags)) == len(tags)


def test_a_held_chart_is_no_key_to_another_caseload(client, clinic, other_clinic):
    care = CoupleInCare(client, clinic)
    care.session(answers(9), answers(8))
    tag = _chart(care).headers["ETag"]
    for stranger in (clinic.staff("therapist"), other_clinic.staff("admin")):
        refused = _chart(care, etag=tag, caller=stranger)
        assert refused.status_code == 404 and "ETag" not in refused.headers


def test_a_cached_chart_costs_a_few_statements_however_long_the_history(client, clinic):
    care = CoupleInCare(client, clinic)
    care.history(30)
    tag = _chart(care).headers["ETag"]
    with count_statements() as statements:
        assert _chart(care, etag=tag).status_code == 304
    with count_statements() as cached:
        assert _chart(care).status_code == 200
    # the tenant setting, the version read, the audit event (and the token's checks)
    assert len(statements) == len(cached) <= 6, statements


def test_a_listed_couple_reads_exactly_as_it_does_on_its_own(client, clinic):
    partners = [
        {
            "display_name": "Ana Lima",
            "feedback_channel": "in_clinic",
            "phone": "+44 20 7946 0958",
            "pronouns": "she/her",
            "personal_goals": ["Be heard"],
            "identifiers": [{"system": "urn:ehr", "value": "A-1"}],
        },
        {"display_name": "Ben Okoro", "email": "ben@example.org", "feedback_channel": "email"},
    ]
    cares = [CoupleInCare(client, clinic, partners=partners), CoupleInCare(client, clinic)]
    admin = cares[0].admin.headers
    erased = client.post(f"/v1/partners/{cares[1].ben}/erase", headers=admin)
    assert erased.status_code == 200, erased.json
    listed = client.get("/v1/couples?limit=50", headers=admin)
    assert listed.status_code == 200
    assert listed.json["next_cursor"] is None
    by_id = {item["id"]: item for item in listed.json["items"]}
    for care in cares:
        alone = client.get(f"/v1/couples/{care.id}", headers=admin)
        assert by_id[care.id] == alone.json
    assert by_id[cares[0].id]["partners"][0]["identifiers"] == [
        {"system": "urn:ehr", "value": "A-1"}
    ]
    assert by_id[cares[1].id]["partners"][1]["erased"] is True
