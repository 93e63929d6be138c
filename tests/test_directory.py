"""`GET /v1/public/clinics/{slug}/therapists`: the public therapist directory (no token)."""

from __future__ import annotations

import pytest

PUBLIC_FIELDS = {
    "id",
    "display_name",
    "pronouns",
    "bio",
    "approaches",
    "languages",
    "accepting_new",
}


def _listed(clinic, **profile: object):
    fields = {"listed_publicly": True, **profile}
    return clinic.staff("therapist", **fields)


@pytest.fixture
def directory(clinic, other_clinic):
    people = {
        "ana": _listed(
            clinic,
            display_name="Dr. Ana Reyes",
            pronouns="she/her",
            bio="Twelve years with couples.",
            approaches=["EFT", "Gottman"],
            languages=["en", "es"],
            accepting_new=True,
        ),
        "sam": _listed(
            clinic,
            display_name="Sam Whitfield",
            approaches=["IBCT"],
            languages=["fr", "de-CH"],
            accepting_new=False,
        ),
        "unlisted": clinic.staff("therapist", approaches=["EFT"], accepting_new=True),
        "inactive": _listed(clinic, active=False, approaches=["EFT"]),
        "supervisor": clinic.staff("supervisor", listed_publicly=True, approaches=["EFT"]),
        "elsewhere": _listed(other_clinic, approaches=["EFT"], languages=["en"]),
    }
    return clinic, people


def _ids(client, slug: str, **query: object) -> set[str]:
    response = client.get(f"/v1/public/clinics/{slug}/therapists", query_string=query)
    assert response.status_code == 200, response.json
    return {item["id"] for item in response.json["items"]}


def test_only_listed_active_therapists_with_public_fields(client, directory):
    clinic, people = directory
    response = client.get(f"/v1/public/clinics/{clinic.slug}/therapists")

    assert response.status_code == 200
    items = {item["id"]: item for item in response.json["items"]}
    assert set(items) == {str(people["ana"].id), str(people["sam"].id)}
    for item in items.values():
        assert set(item) == PUBLIC_FIELDS
    ana = items[str(people["ana"].id)]
    assert ana == {
        "id": str(people["ana"].id),
        "display_name": "Dr. Ana Reyes",
        "pronouns": "she/her",
        "bio": "Twelve years with couples.",
        "approaches": ["EFT", "Gottman"],
        "languages": ["en", "es"],
        "accepting_new": True,
    }
    assert "email" not in response.get_data(as_text=True)


def test_directory_filters(client, directory):
    clinic, people = directory
    ana, sam = str(people["ana"].id), str(people["sam"].id)

    assert _ids(client, clinic.slug, approach="eft") == {ana}  # case-insensitive
    assert _ids(client, clinic.slug, approach="IBCT") == {sam}
    assert _ids(client, clinic.slug, approach="Imago") == set()
    assert _ids(client, clinic.slug, approach="EF") == set()  # whole entries, not substrings
    assert _ids(client, clinic.slug, language="es") == {ana}
    assert _ids(client, clinic.slug, language="de") == {sam}  # `de` matches `de-CH`
    assert _ids(client, clinic.slug, language="de-ch") == {sam}
    assert _ids(client, clinic.slug, accepting_new="true") == {ana}
    assert _ids(client, clinic.slug, accepting_new="false") == {sam}
    assert _ids(client, clinic.slug, approach="Gottman", language="en", accepting_new="true") == {
        ana
    }


def test_directory_pages(client, directory):
    clinic, people = directory
    first = client.get(f"/v1/public/clinics/{clinic.slug}/therapists?limit=1")
    assert len(first.json["items"]) == 1 and first.json["next_cursor"]
    assert 'rel="next"' in first.headers["Link"]
    second = client.get(
        f"/v1/public/clinics/{clinic.slug}/therapists?limit=1&cursor={first.json['next_cursor']}"
    )
    assert second.json["next_cursor"] is None
    seen = {first.json["items"][0]["id"], second.json["items"][0]["id"]}
    assert seen == {str(people["ana"].id), str(people["sam"].id)}


@pytest.mark.parametrize(
    "slug", ["no-such-clinic-anywhere", "UPPER", "x" * 300, "bad%00slug", "a.b"]
)
def test_unknown_slug_is_404(client, slug):
    response = client.get(f"/v1/public/clinics/{slug}/therapists")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    "query",
    [
        {"accepting_new": "perhaps"},
        {"language": "not a tag"},
        {"approach": "x" * 61},
        {"approach": "bad\x00"},
        {"limit": "0"},
        {"email": "ana@x"},
    ],
)
def test_bad_directory_query_is_400_naming_it(client, clinic, query):
    response = client.get(f"/v1/public/clinics/{clinic.slug}/therapists", query_string=query)
    assert response.status_code == 400, response.json
    assert set(query) <= set(response.json["errors"])


def test_a_token_is_not_needed_and_not_used(client, directory, other_clinic):
    clinic, people = directory
    # A caller from another clinic sees the same public listing, nothing of its own clinic.
    intruder = other_clinic.staff("admin")
    response = client.get(f"/v1/public/clinics/{clinic.slug}/therapists", headers=intruder.headers)
    assert response.status_code == 200
    assert str(people["elsewhere"].id) not in {item["id"] for item in response.json["items"]}
