"""`/v1/alerts/**` and `/v1/alert-policy/**`."""

from flask.views import MethodView

from service.alerts import backtest, schemas, service
from service.http import etags
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
        return paged(service.list_alerts(**query))


@blp.route("/<uuid:alert_id>")
class OneAlert(MethodView):
    @require("alerts.read")
    @blp.response(200, schemas.AlertDetailSchema)
    def get(self, alert_id):
        return service.get(alert_id)


@blp.route("/<uuid:alert_id>/acknowledge")
class Acknowledge(MethodView):
    @require("alerts.write")
    @blp.response(200, schemas.AlertSchema)
    def post(self, alert_id):
        return service.acknowledge(alert_id)


@blp.route("/<uuid:alert_id>/resolve")
class Resolve(MethodView):
    @require("alerts.write")
    @blp.arguments(schemas.ResolveSchema, required=False)
    @blp.response(200, schemas.AlertSchema)
    def post(self, data, alert_id):
        return service.resolve(alert_id, data.get("note"))


@blp.route("/<uuid:alert_id>/snooze")
class Snooze(MethodView):
    @require("alerts.write")
    @blp.arguments(schemas.SnoozeSchema)
    @blp.response(200, schemas.AlertSchema)
    def post(self, data, alert_id):
        return service.snooze(alert_id, data["until"])


@policy_blp.route("")
class Policy(MethodView):
    @require("clinic.read")
    @policy_blp.response(200, schemas.PolicySchema)
    def get(self):
        policy, version = service.policy_with_version()
        return policy.to_dict(), etags.headers_for(version)

    @require("clinic.write", roles=("admin",))
    @if_match
    @policy_blp.arguments(schemas.PolicySchema)
    @policy_blp.response(200, schemas.PolicySchema)
    def put(self, data):
        policy, version = service.replace_policy(data, etags.check)
        return policy.to_dict(), etags.headers_for(version)


@policy_blp.route("/preview")
class Preview(MethodView):
    @require("clinic.write", roles=("admin",))
    @policy_blp.arguments(schemas.PolicySchema)
    @policy_blp.response(200, schemas.PreviewSchema)
    def post(self, data):
        return backtest.preview(data)
