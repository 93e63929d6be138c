from dataclasses import dataclass
from typing import Any

from flask import Response, current_app
from flask.views import MethodView

from service.alerts import schemas, service
from service.auth.resource import bind_partner, public, require
from service.feedback import chart
from service.feedback import schemas as feedback_schemas
from service.feedback import service as feedback
from service.http import etags
from service.http.api import Blueprint
from service.http.limits import limiter
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
# Recording feedback evaluates alerts in the same transaction, so the routes that record it
# (and the alliance views that show alerts) live here: the feedback package never imports
# alerts. Reading the form stays in service/feedback/api.py.
recording_blp = Blueprint(
    "feedback_recording",
    __name__,
    url_prefix="/v1",
    description="Recording feedback: the partner's link or staff entry.",
)
alliance_blp = Blueprint(
    "alliance",
    __name__,
    url_prefix="/v1/couples",
    description="Each partner's alliance over time, the gap, the alerts.",
)

TOKEN_RULE = "<string(length=43):token>"  # noqa: S105 - a URL rule, not a secret


@dataclass(frozen=True)
class AllianceView:
    """The alliance series with the couple's active alerts."""

    alliance: Any
    alerts: list

    def __getattr__(self, name: str) -> Any:
        return getattr(self.alliance, name)


def _form_limit() -> str:
    return current_app.config["SETTINGS"].feedback_form_rate_limit


def _alliance(couple_id) -> AllianceView:
    return AllianceView(feedback.alliance(couple_id), service.active_for_couple(couple_id))


@recording_blp.route(f"/feedback-forms/{TOKEN_RULE}")
class PartnerAnswers(MethodView):
    decorators = [limiter.limit(_form_limit)]

    @public
    @recording_blp.arguments(feedback_schemas.SubmitSchema)
    @recording_blp.response(201, feedback_schemas.ReceivedSchema)
    def post(self, data, token):
        grant = feedback.resolve_token(token)
        bind_partner(grant.clinic_id, grant.partner_id)
        service.record_partner_feedback(grant, data)
        return {"status": "received", "message": feedback.THANKS}


@recording_blp.route("/sessions/<uuid:session_id>/feedback")
class StaffEntry(MethodView):
    @require("feedback.write")
    @recording_blp.arguments(feedback_schemas.StaffEntrySchema)
    @recording_blp.response(201, feedback_schemas.ResponseSchema)
    def post(self, data, session_id):
        return service.record_staff_entry(session_id, data)


@alliance_blp.route("/<uuid:couple_id>/alliance")
class Alliance(MethodView):
    @require("feedback.read")
    @alliance_blp.response(200, schemas.AllianceWithAlertsSchema)
    def get(self, couple_id):
        return _alliance(couple_id)


@alliance_blp.route("/<uuid:couple_id>/alliance.svg")
class AllianceChart(MethodView):
    @require("feedback.read")
    @alliance_blp.response(200, {"type": "string"}, content_type="image/svg+xml")
    def get(self, couple_id):
        return Response(chart.render(_alliance(couple_id)), mimetype="image/svg+xml")


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
    @blp.response(200, schemas.AlertSchema)
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
    @policy_blp.if_match
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
        return service.preview(data)
