"""HTTP conventions seen from a client: problem+json, request ids, ETags."""

from datetime import timedelta


def test_own_clinic_read_with_etag_and_request_id(client, admin):
    response = client.get("/v1/clinic", headers={**admin.headers, "X-Request-ID": "abc-123"})
    assert response.status_code == 200
    assert response.json["id"] == str(admin.clinic_id)
    assert response.headers["ETag"] == '"1"'
    assert response.headers["X-Request-ID"] == "abc-123"
    assert response.json["created_at"].endswith("Z")  # RFC 3339 in UTC


def test_stale_if_match_is_refused_and_changes_nothing(client, admin):
    first = client.patch(
        "/v1/clinic", json={"name": "Renamed"}, headers={**admin.headers, "If-Match": '"1"'}
    )
    assert first.status_code == 200
    assert first.headers["ETag"] == '"2"'
    stale = client.patch(
        "/v1/clinic", json={"name": "Lost update"}, headers={**admin.headers, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert stale.mimetype == "application/problem+json"
    assert client.get("/v1/clinic", headers=admin.headers).json["name"] == "Renamed"


def test_cors_allows_only_listed_origins_and_never_a_wildcard(client, make_clinic, travel):
    make_clinic(cors_origins=["https://clinic-frontend.example"])
    travel.advance(timedelta(seconds=1.05))  # the allow-list reloads at most once a second
    preflight = {"Access-Control-Request-Method": "PATCH"}
    for origin in ("https://frontend.example", "https://clinic-frontend.example"):
        response = client.options("/v1/clinic", headers={"Origin": origin, **preflight})
        assert response.headers["Access-Control-Allow-Origin"] == origin
        assert "If-Match" in response.headers["Access-Control-Allow-Headers"]
        assert response.headers["Access-Control-Max-Age"]
    stranger = client.options("/v1/clinic", headers={"Origin": "https://evil.example", **preflight})
    assert "Access-Control-Allow-Origin" not in stranger.headers
