from urllib.parse import urlencode

from flask import current_app, request
from flask.views import MethodView

from service.http import etags
from service.http.apidoc import sends
from service.http.extensions import Blueprint, idempotent, if_match, require
from service.http.pagination import encode_cursor, paged
from service.notifications import schemas, service

blp = Blueprint(
    "webhook_endpoints",
    __name__,
    url_prefix="/v1/webhook-endpoints",
    description=(
        "Signed webhooks (Standard Webhooks: `webhook-id`, `webhook-timestamp`, "
        "`webhook-signature`). Targets must be HTTPS on public addresses; the secret is shown "
        "once; rotation keeps the previous secret signing for 24 h. Deliveries time out after "
        "10 s, follow no redirects, and retry with backoff; a 410 answer, or 3 days of failure, "
        "disables the endpoint."
    ),
)
events_blp = Blueprint(
    "events",
    __name__,
    url_prefix="/v1/events",
    description=(
        "The durable change feed, oldest first, with the same objects webhooks carry. Poll "
        "with `after` = the last `next_cursor`. An event is listed once it is 2 seconds old, "
        "so one committed late by a concurrent transaction is not skipped."
    ),
)

outbox_blp = Blueprint(
    "outbox",
    __name__,
    url_prefix="/v1/outbox",
    description="Emails and webhooks waiting, sent or dead (admins): re-drive dead ones.",
)


def _allow_private() -> bool:
    return current_app.config["SETTINGS"].webhook_allow_private


@blp.route("")
class Endpoints(MethodView):
    @require("webhooks.manage")
    @blp.arguments(schemas.WebhookEndpointQuerySchema, location="query")
    @blp.response(200, schemas.WebhookEndpointPageSchema)
    def get(self, query):
        """List the clinic's webhook endpoints.

        Changes nothing; secrets are never listed.
        """
        return paged(service.list_endpoints(**query))

    @require("webhooks.manage")
    @idempotent(redact=("secret",))
    @blp.arguments(schemas.WebhookEndpointSchema)
    @blp.response(201, schemas.WebhookEndpointWithSecretSchema, headers=sends("Location", "ETag"))
    def post(self, data):
        """Register a webhook endpoint.

        Events of the types given are delivered to `url`, signed with the `secret` shown in this
        response only (null in an `Idempotency-Key` replay). A URL that is not HTTPS on a public
        address is 422.
        """
        endpoint = service.create_endpoint(data, allow_private=_allow_private())
        return endpoint, {
            "Location": f"/v1/webhook-endpoints/{endpoint.id}",
            **etags.headers_for(endpoint.version),
        }


@blp.route("/<uuid:endpoint_id>")
class OneEndpoint(MethodView):
    @require("webhooks.manage")
    @blp.response(200, schemas.WebhookEndpointSchema, headers=sends("ETag"))
    def get(self, endpoint_id):
        """Read a webhook endpoint.

        Changes nothing.
        """
        endpoint = service.get_endpoint(endpoint_id)
        return endpoint, etags.headers_for(endpoint.version)

    @require("webhooks.manage")
    @if_match
    @blp.arguments(schemas.WebhookEndpointPatchSchema)
    @blp.response(200, schemas.WebhookEndpointSchema, headers=sends("ETag"))
    def patch(self, changes, endpoint_id):
        """Change a webhook endpoint, or enable it again.

        Only the fields sent change; `enabled: true` re-enables an endpoint disabled after failures.
        """
        endpoint = service.update_endpoint(
            endpoint_id, changes, etags.check, allow_private=_allow_private()
        )
        return endpoint, etags.headers_for(endpoint.version)

    @require("webhooks.manage")
    @if_match
    @blp.response(204)
    def delete(self, endpoint_id):
        """Delete a webhook endpoint.

        It and its secret are gone; its undelivered messages are not sent.
        """
        service.delete_endpoint(endpoint_id, etags.check)


@blp.route("/<uuid:endpoint_id>/rotate-secret")
class RotateSecret(MethodView):
    @require("webhooks.manage")
    @blp.response(200, schemas.WebhookEndpointWithSecretSchema, headers=sends("ETag"))
    def post(self, endpoint_id):
        """Rotate a webhook endpoint's signing secret.

        A new secret, shown in this response only; the previous one keeps signing alongside it for
        24 hours.
        """
        endpoint = service.rotate_secret(endpoint_id)
        return endpoint, etags.headers_for(endpoint.version)


@blp.route("/<uuid:endpoint_id>/deliveries")
class Deliveries(MethodView):
    @require("webhooks.manage")
    @blp.arguments(schemas.DeliveryQuerySchema, location="query")
    @blp.response(200, schemas.DeliveryPageSchema)
    def get(self, query, endpoint_id):
        """List an endpoint's deliveries, filtered by status.

        Changes nothing.
        """
        return paged(service.list_deliveries(endpoint_id, **query))


@blp.route("/<uuid:endpoint_id>/deliveries/<uuid:delivery_id>/retry")
class RetryDelivery(MethodView):
    @require("webhooks.manage")
    @blp.response(200, schemas.DeliverySchema)
    def post(self, endpoint_id, delivery_id):
        """Retry a delivery now.

        Puts the delivery back in the queue, due now. A disabled endpoint, or a delivery a worker is
        sending right now, is 409.
        """
        return service.retry_delivery(endpoint_id, delivery_id)


@events_blp.route("")
class Events(MethodView):
    @require("webhooks.manage")
    @events_blp.arguments(schemas.EventQuerySchema, location="query")
    @events_blp.response(200, schemas.EventPageSchema)
    def get(self, query):
        """Read the change feed after a cursor.

        The same events webhooks carry, oldest first; poll with `after` set to the last
        `next_cursor`. Changes nothing.
        """
        items, last, more = service.list_events(query["limit"], query.get("after"))
        cursor = encode_cursor(last) if last else None
        headers = {}
        if more:
            following = urlencode({"limit": query["limit"], "after": cursor})
            headers["Link"] = f'<{request.base_url}?{following}>; rel="next"'
        return {"items": items, "next_cursor": cursor, "has_more": more}, headers


@outbox_blp.route("")
class Outbox(MethodView):
    @require("clinic.read", roles=("admin",))
    @outbox_blp.arguments(schemas.OutboxQuerySchema, location="query")
    @outbox_blp.response(200, schemas.OutboxPageSchema)
    def get(self, query):
        """List the outbox: emails and webhooks waiting, sent or dead.

        Never their content or recipient. Changes nothing.
        """
        return paged(service.list_outbox(**query))


@outbox_blp.route("/<uuid:message_id>/redrive")
class Redrive(MethodView):
    @require("clinic.write", roles=("admin",))
    @outbox_blp.response(200, schemas.RedriveSchema)
    def post(self, message_id):
        """Re-drive a dead message.

        Puts it back in the queue, due now. A message that is not dead is 404.
        """
        return {"requeued": service.redrive(message_id)}
