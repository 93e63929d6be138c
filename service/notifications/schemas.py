import marshmallow as ma

from service.http.fields import JSONBoolean, Text, Timestamp
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
    """A URL of the clinic's that receives signed event notifications."""

    id = ma.fields.UUID(dump_only=True)
    url = _Url(required=True)
    events = _events(required=True)
    description = Text(
        max_length=200,
        allow_none=True,
        metadata={"description": "What the clinic uses it for.", "example": "EHR sync"},
    )
    enabled = ma.fields.Boolean(
        dump_only=True,
        metadata={
            "description": "False once disabled after repeated failures or a 410.",
            "example": True,
        },
    )
    disabled_reason = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "Why it was disabled; null while enabled.",
            "example": "Gone (410)",
        },
    )
    failing_since = Timestamp(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Since when deliveries fail; null while they succeed."},
    )
    previous_secret_until = Timestamp(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Until then the previous secret also signs (rotation)."},
    )
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class WebhookEndpointWithSecretSchema(WebhookEndpointSchema):
    """A webhook endpoint with its signing secret, shown once."""

    secret = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "Shown once: `whsec_` + base64 of 24 random bytes.",
            "example": "whsec_MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0",
        },
    )


class WebhookEndpointPatchSchema(ma.Schema):
    """Changes to a webhook endpoint: only the fields sent change."""

    url = _Url()
    events = _events()
    description = Text(
        max_length=200,
        allow_none=True,
        metadata={"description": "What the clinic uses it for.", "example": "EHR sync"},
    )
    enabled = JSONBoolean(
        metadata={"description": "Re-enable after a failure or 410.", "example": True}
    )


class WebhookEndpointQuerySchema(PageQuerySchema):
    pass


class DeliverySchema(ma.Schema):
    """One event's delivery to a webhook endpoint."""

    id = ma.fields.UUID(dump_only=True, metadata={"description": "Also the `webhook-id`."})
    topic = ma.fields.String(
        dump_only=True, metadata={"description": "The event type.", "example": "alert.created"}
    )
    status = ma.fields.String(
        dump_only=True,
        metadata={
            "enum": list(DELIVERY_STATUSES),
            "description": "pending (to be tried), sent, or dead (gave up; redrive it).",
        },
    )
    attempts = ma.fields.Integer(
        dump_only=True, metadata={"description": "Attempts so far.", "example": 1}
    )
    response_status = ma.fields.Integer(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "The receiver's last HTTP status; null before any.",
            "example": 200,
        },
    )
    latency_ms = ma.fields.Integer(
        dump_only=True,
        allow_none=True,
        metadata={"description": "How long the last attempt took.", "example": 120},
    )
    last_error = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "What went wrong last; null when nothing.", "example": "timeout"},
    )
    next_attempt_at = Timestamp(
        dump_only=True, metadata={"description": "When it is (or was) next tried."}
    )
    created_at = Timestamp(dump_only=True)
    sent_at = Timestamp(
        dump_only=True,
        allow_none=True,
        metadata={"description": "When it was delivered; null until then."},
    )


class OutboxMessageSchema(DeliverySchema):
    """An outbox message as operators see it: never its content or recipient."""

    channel = ma.fields.String(
        dump_only=True, metadata={"description": "email or webhook.", "example": "email"}
    )


class OutboxQuerySchema(PageQuerySchema):
    status = ma.fields.String(validate=ma.validate.OneOf(DELIVERY_STATUSES))
    channel = ma.fields.String(validate=ma.validate.OneOf(("email", "webhook")))


class RedriveSchema(ma.Schema):
    """Dead messages put back in the queue."""

    requeued = ma.fields.Integer(
        dump_only=True, metadata={"description": "How many were requeued.", "example": 1}
    )


OutboxPageSchema = page_schema(OutboxMessageSchema, "OutboxMessagePage")


class DeliveryQuerySchema(PageQuerySchema):
    status = ma.fields.String(validate=ma.validate.OneOf(DELIVERY_STATUSES))


class EventSchema(ma.Schema):
    """An event, as webhooks deliver it."""

    id = ma.fields.UUID(dump_only=True, metadata={"description": "Dedupe on it."})
    type = ma.fields.String(
        dump_only=True, metadata={"enum": list(TOPICS), "description": "The event type."}
    )
    timestamp = ma.fields.String(
        dump_only=True, metadata={"format": "date-time", "description": "When it happened (UTC)."}
    )
    data = ma.fields.Dict(
        dump_only=True,
        metadata={
            "description": "Ids only, never PHI.",
            "example": {"alert_id": "7d1c5e2a-4b8f-4c3e-9a61-2f0b8d9e6c14"},
        },
    )


class EventQuerySchema(ma.Schema):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(1, MAX_LIMIT))
    after = Cursor(metadata={"description": "The `next_cursor` of your previous call."})


class EventPageSchema(ma.Schema):
    """Events after a cursor, oldest first."""

    items = ma.fields.List(
        ma.fields.Nested(EventSchema),
        required=True,
        metadata={"description": "The events, oldest first."},
    )
    next_cursor = ma.fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "Pass as `after` next time; null only before any event.",
            "example": "WyIyMDI2LTExLTAyVDE1",
        },
    )
    has_more = ma.fields.Boolean(
        required=True, metadata={"description": "More events are available right now."}
    )


WebhookEndpointPageSchema = page_schema(WebhookEndpointSchema, "WebhookEndpointPage")
DeliveryPageSchema = page_schema(DeliverySchema, "WebhookDeliveryPage")
