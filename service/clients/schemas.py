import json

import marshmallow as ma
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from service.http.fields import Text, Timestamp
from service.http.pagination import page_schema
from service.http.results import WithResource
from service.staff.policy import INTEGRATOR_SCOPES

AUTH_METHODS = ("client_secret_basic", "private_key_jwt")
# Members that only a private (or symmetric) key has: they must never be uploaded.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_MAX_JWKS_BYTES = 20_000


def _known_scopes(scopes: list[str]) -> None:
    unknown = sorted(set(scopes) - INTEGRATOR_SCOPES)
    if unknown:
        raise ma.ValidationError(
            f"Unknown or not grantable: {', '.join(unknown)}. "
            f"Choose from: {', '.join(sorted(INTEGRATOR_SCOPES))}."
        )


def _public_jwks(jwks: dict) -> None:
    keys = jwks.get("keys")
    if set(jwks) != {"keys"} or not isinstance(keys, list) or not 1 <= len(keys) <= 10:
        raise ma.ValidationError('A JWKS is {"keys": [...]} with 1 to 10 public keys.')
    if len(json.dumps(jwks)) > _MAX_JWKS_BYTES:
        raise ma.ValidationError(f"A JWKS may be at most {_MAX_JWKS_BYTES} bytes.")
    for key in keys:
        if not isinstance(key, dict) or key.get("kty") not in {"EC", "RSA", "OKP"}:
            raise ma.ValidationError("Each key needs kty EC, RSA or OKP.")
        if _PRIVATE_MEMBERS & set(key):
            raise ma.ValidationError("Send public keys only: this contains private key material.")
    try:
        KeySet.import_key_set(jwks)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise ma.ValidationError("Not a valid JWKS.") from exc


class ClientSchema(ma.Schema):
    """An integrator client (an EHR or other system) of the clinic."""

    id = ma.fields.UUID(dump_only=True)
    client_id = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "The OAuth client id it authenticates with.",
            "example": "cl_3f9a2b7c41d8",
        },
    )
    name = Text(
        required=True,
        min_length=1,
        max_length=120,
        metadata={
            "description": "What the clinic calls this integration.",
            "example": "Practice EHR",
        },
    )
    scopes = ma.fields.List(
        ma.fields.String(metadata={"enum": sorted(INTEGRATOR_SCOPES)}),
        required=True,
        validate=[ma.validate.Length(min=1, max=len(INTEGRATOR_SCOPES)), _known_scopes],
        metadata={"description": "The scopes its tokens may carry.", "example": ["couples.read"]},
    )
    token_endpoint_auth_method = ma.fields.String(
        load_default="client_secret_basic",
        validate=ma.validate.OneOf(AUTH_METHODS),
        metadata={"description": "How it authenticates at the token endpoint."},
    )
    jwks = ma.fields.Dict(
        allow_none=True,
        validate=_public_jwks,
        metadata={"description": "Inline public JWKS (private_key_jwt).", "example": None},
    )
    jwks_uri = ma.fields.Url(
        schemes={"https"},
        allow_none=True,
        validate=ma.validate.Length(max=500),
        metadata={"description": "HTTPS URL of the public JWKS (private_key_jwt)."},
    )
    created_at = Timestamp(dump_only=True)
    revoked_at = Timestamp(
        dump_only=True,
        allow_none=True,
        metadata={"description": "When it was revoked; null while it works."},
    )

    @ma.validates_schema
    def _keys_match_method(self, data: dict, **_kw: object) -> None:
        has_jwks, has_uri = data.get("jwks") is not None, data.get("jwks_uri") is not None
        if data.get("token_endpoint_auth_method") == "private_key_jwt":
            if has_jwks == has_uri:
                message = "private_key_jwt needs exactly one of jwks and jwks_uri."
                raise ma.ValidationError({"jwks": [message], "jwks_uri": [message]})
        elif has_jwks or has_uri:
            field = "jwks" if has_jwks else "jwks_uri"
            raise ma.ValidationError(
                {field: ["Only for token_endpoint_auth_method private_key_jwt."]}
            )

    @ma.post_load
    def _tidy(self, data: dict, **_kw: object) -> dict:
        data["scopes"] = sorted(set(data["scopes"]))
        return data


class ClientRegisteredSchema(WithResource, ClientSchema):
    """The registered client, with its secret shown once."""

    client_secret = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "Shown once, in this response only (null for private_key_jwt, and "
            "in an Idempotency-Key replay). Store it now: only a hash is kept.",
            "example": "s3cr3t-Qm9Xb2t1ZW4tZXhhbXBsZQ",
        },
    )


ClientPageSchema = page_schema(ClientSchema, "ClientPage")
