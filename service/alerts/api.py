"""`/v1/alerts/**` and `/v1/alert-policy/**`."""

from flask.views import MethodView

from service.alerts import backtest, schemas, service
from service.http import etags
from service.http.apidoc import sends
from service.http.extensions import Blueprint, if_match, require
from service.http.pagination import paged

blp = Blueprint(
    "alerts",
    __name__,
    url_prefix="/v1/alerts",
    description="Alerts raised from partners' feedback, with their evidence.",
)
policy_blp = Blueprint(
    "alert_policy",
    __name__,
    url_prefix="/v1/alert-policy",
    description="The clinic's alert thresholds, and a backtest of changes.",
)


@blp.route("")
class Alerts(MethodView):
    @require("alerts.read")
    @blp.arguments(schemas.AlertQuerySchema, location="query")
    @blp.response(200, schemas.AlertPageSchema)
    def get(self, query):
        """List alerts, filtered by status, severity, rule, couple, partner or therapist.

        A therapist sees the alerts of their own caseload; supervisors and admins, the clinic's.
        Changes nothing.
        """
        return paged(service.list_alerts(**query))


@blp.route("/<uuid:alert_id>")
class OneAlert(MethodView):
    @require("alerts.read")
    @blp.response(200, schemas.AlertDetailSchema)
    def get(self, alert_id):
        """Read an alert, with its evidence and the sessions it held in.

        Changes nothing (the read is audited).
        """
        return service.get(alert_id)


@blp.route("/<uuid:alert_id>/acknowledge")
class Acknowledge(MethodView):
    @require("alerts.write")
    @blp.response(200, schemas.AlertSchema)
    def post(self, alert_id):
        """Acknowledge an alert: someone is on it.

        Sets `status` to `acknowledged` and records who and when. A resolved alert cannot change
        (409).
        """
        return service.acknowledge(alert_id)


@blp.route("/<uuid:alert_id>/resolve")
class Resolve(MethodView):
    @require("alerts.write")
    @blp.arguments(schemas.ResolveSchema, required=False)
    @blp.response(200, schemas.AlertSchema)
    def post(self, data, alert_id):
        """Resolve an alert, with an optional note.

        Sets `status` to `resolved` for good: a new signal raises a new alert. Resolving a resolved
        alert is 409.
        """
        return service.resolve(alert_id, data.get("note"))


@blp.route("/<uuid:alert_id>/snooze")
class Snooze(MethodView):
    @require("alerts.write")
    @blp.arguments(schemas.SnoozeSchema)
    @blp.response(200, schemas.AlertSchema)
    def post(self, data, alert_id):
        """Snooze an alert until an instant.

        Sets `status` to `snoozed`; it is open again at `until`, which must be in the next 90 days
        (else 422). A resolved alert cannot be snoozed (409).
        """
        return service.snooze(alert_id, data["until"])


@policy_blp.route("")
class Policy(MethodView):
    @require("clinic.read")
    @policy_blp.response(200, schemas.PolicySchema, headers=sends("ETag"))
    def get(self):
        """Read the clinic's alert policy.

        Which rules run, their thresholds and severity; the `ETag` is for a later `PUT`. Changes
        nothing.
        """
        policy, version = service.policy_with_version()
        return policy.to_dict(), etags.headers_for(version)

    @require("clinic.write", roles=("admin",))
    @if_match
    @policy_blp.arguments(schemas.PolicySchema)
    @policy_blp.response(200, schemas.PolicySchema, headers=sends("ETag"))
    def put(self, data):
        """Replace the clinic's alert policy.

        Takes effect for the next feedback evaluated; alerts already raised stay. Settings left out
        keep their defaults; a policy whose values make no sense together is 422, naming the field.
        """
        policy, version = service.replace_policy(data, etags.check)
        return policy.to_dict(), etags.headers_for(version)


@policy_blp.route("/preview")
class Preview(MethodView):
    @require("clinic.write", roles=("admin",))
    @policy_blp.arguments(schemas.PolicySchema)
    @policy_blp.response(200, schemas.PreviewSchema)
    def post(self, data):
        """Preview a policy against the clinic's recent sessions.

        Replays the recent answered sessions under the proposed policy and counts the alerts and
        emails it would have produced. Changes nothing.
        """
        return backtest.preview(data)
