import marshmallow as ma

from service.http.fields import Text, Timestamp
from service.http.pagination import PageQuerySchema, page_schema


class AuditEventSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    created_at = Timestamp(dump_only=True)
    actor_kind = ma.fields.String(dump_only=True)
    actor_id = ma.fields.String(dump_only=True)
    action = ma.fields.String(dump_only=True)
    resource_type = ma.fields.String(dump_only=True)
    resource_id = ma.fields.UUID(dump_only=True, allow_none=True)
    request_id = ma.fields.String(dump_only=True, allow_none=True)
    ip = ma.fields.String(dump_only=True, allow_none=True)
    route = ma.fields.String(dump_only=True, allow_none=True)
    reason = ma.fields.String(dump_only=True, allow_none=True)


class AuditQuerySchema(PageQuerySchema):
    resource_type = Text(max_length=40)
    resource_id = ma.fields.UUID()
    actor_id = Text(max_length=120)
    action = Text(max_length=40)


AuditPageSchema = page_schema(AuditEventSchema, "AuditEventPage")
