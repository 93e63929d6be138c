import marshmallow as ma

from service.http.fields import Text, Timestamp
from service.http.pagination import PageQuerySchema, page_schema


class AuditEventSchema(ma.Schema):
    """One audited action: who did what to which resource, when."""

    id = ma.fields.UUID(dump_only=True)
    created_at = Timestamp(dump_only=True)
    actor_kind = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "Who acted: staff, client, partner, platform or anonymous.",
            "example": "staff",
        },
    )
    actor_id = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "The actor's id (staff id, client id...).",
            "example": "7d1c5e2a-4b8f-4c3e-9a61-2f0b8d9e6c14",
        },
    )
    action = ma.fields.String(
        dump_only=True, metadata={"description": "What was done.", "example": "couple.read"}
    )
    resource_type = ma.fields.String(
        dump_only=True,
        metadata={"description": "The kind of resource acted on.", "example": "couple"},
    )
    resource_id = ma.fields.UUID(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The resource acted on; null for lists."},
    )
    request_id = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "The request's `X-Request-ID`, to find it in logs.",
            "example": "4f1c0b7e2a9d4c38",
        },
    )
    ip = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The caller's IP address.", "example": "203.0.113.7"},
    )
    route = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "The route a refused request asked for (refusals only).",
            "example": "/v1/couples/{couple_id}",
        },
    )
    reason = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "Why it was refused or failed, as the caller was told.",
            "example": "wrong_password",
        },
    )


class AuditQuerySchema(PageQuerySchema):
    resource_type = Text(max_length=40)
    resource_id = ma.fields.UUID()
    actor_id = Text(max_length=120)
    action = Text(max_length=40)


AuditPageSchema = page_schema(AuditEventSchema, "AuditEventPage")
