import marshmallow as ma

from service.http.fields import Text, Timestamp
from service.http.pagination import MAX_LIMIT, Cursor, PageQuerySchema, page_schema
from service.notifications.webhooks import TOPICS

DELIVERY_STATUSES = ("pending", "sent", "dead")


class _Url(Text):
    def __init__(self, **kwargs):
        super().__init__(max_length=500, min_length=1, **kwargs)
        self.validators.append(ma.validate.URL(schemes={"http", "https"}, require_tld=False))
        self.metadata.update(format="uri", description="HTTPS, on a public address.")


def _events(**kwargs):
    return ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(TOPICS)),
        validate=ma.validate.Length(min=1, max=len(TOPICS)),
        metadata={"description": "Event types to receive."},
        **kwargs,
    )


class WebhookEndpointSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    url = _Url(required=True)
    events = _events(required=True)
    description = Text(max_length=200, allow_none=True)
    enabled = ma.fields.Boolean(dump_only=True)
    disabled_reason = ma.fields.String(dump_only=True, allow_none=True)
    failing_since = Timestamp(dump_only=True, allow_none=True)
    previous_secret_until = Timestamp(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Until then the previous secret also signs (rotation)."},
    )
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class WebhookEndpointWithSecretSchema(WebhookEndpointSchema):
    secret = ma.fields.String(
        dump_only=True,
        metadata={"description": "Shown once: `whsec_` + base64 of 24 random bytes."},
    )


class WebhookEndpointPatchSchema(ma.Schema):
    url = _Url()
    events = _events()
    description = Text(max_length=200, allow_none=True)
    enabled = ma.fields.Boolean(metadata={"description": "Re-enable after a failure or 410."})


class WebhookEndpointQuerySchema(PageQuerySchema):
    pass


class DeliverySchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True, metadata={"description": "Also the `webhook-id`."})
    topic = ma.fields.String(dump_only=True)
    status = ma.fields.String(dump_only=True, metadata={"enum": list(DELIVERY_STATUSES)})
    attempts = ma.fields.Integer(dump_only=True)
    response_status = ma.fields.Integer(dump_only=True, allow_none=True)
    latency_ms = ma.fields.Integer(dump_only=True, allow_none=True)
    last_error = ma.fields.String(dump_only=True, allow_none=True)
    next_attempt_at = Timestamp(dump_only=True)
    created_at = Timestamp(dump_only=True)
    sent_at = Timestamp(dump_only=True, allow_none=True)


class OutboxMessageSchema(DeliverySchema):
    """An outbox message as operators see it: never its content or recipient."""

    channel = ma.fields.String(dump_only=True)


class OutboxQuerySchema(PageQuerySchema):
    status = ma.fields.String(validate=ma.validate.OneOf(DELIVERY_STATUSES))
    channel = ma.fields.String(validate=ma.validate.OneOf(("email", "webhook")))


class RedriveSchema(ma.Schema):
    requeued = ma.fields.Integer(dump_only=True)


OutboxPageSchema = page_schema(OutboxMessageSchema, "OutboxMessagePage")


class DeliveryQuerySchema(PageQuerySchema):
    status = ma.fields.String(validate=ma.validate.OneOf(DELIVERY_STATUSES))


class EventSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True, metadata={"description": "Dedupe on it."})
    type = ma.fields.String(dump_only=True, metadata={"enum": list(TOPICS)})
    timestamp = ma.fields.String(dump_only=True, metadata={"format": "date-time"})
    data = ma.fields.Dict(dump_only=True, metadata={"description": "Ids only, never PHI."})


class EventQuerySchema(ma.Schema):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(1, MAX_LIMIT))
    after = Cursor(metadata={"description": "The `next_cursor` of your previous call."})


class EventPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(EventSchema), required=True)
    next_cursor = ma.fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "Pass as `after` next time; null only before any event."},
    )
    has_more = ma.fields.Boolean(
        required=True, metadata={"description": "More events are available right now."}
    )


WebhookEndpointPageSchema = page_schema(WebhookEndpointSchema, "WebhookEndpointPage")
DeliveryPageSchema = page_schema(DeliverySchema, "WebhookDeliveryPage")
