"""`/v1/feedback-forms/{token}`: the partner's side, for forms a clinic builds itself. The
token in the partner's link is the credential."""

from flask import current_app
from flask.views import MethodView

from service.alerts import evaluation
from service.feedback import links, recording, schemas
from service.http.extensions import Blueprint, link_holder, rate_limited
from service.http.limits import limiter

blp = Blueprint(
    "feedback_forms",
    __name__,
    url_prefix="/v1/feedback-forms",
    description="The partner's side: the token in their link is the credential.",
)

TOKEN_RULE = "<string(minlength=43, maxlength=65):token>"  # noqa: S105 - a URL rule, not a secret


def _form_limit() -> str:
    return current_app.config["SETTINGS"].feedback_form_rate_limit


@blp.route(f"/{TOKEN_RULE}")
class PartnerForm(MethodView):
    decorators = [limiter.limit(_form_limit)]

    @rate_limited
    @link_holder(links.resolve_token, links.clinic_of)
    @blp.response(200, schemas.FormSchema)
    def get(self, grant):
        """Open a partner's feedback form.

        The questions in the partner's language, the session and the therapist's name. Changes
        nothing. An unknown link is 404, a used one 409, an expired one 410.
        """
        return links.form(grant)

    @rate_limited
    @link_holder(links.claim_token, links.clinic_of)
    @blp.arguments(schemas.SubmitSchema)
    @blp.response(201, schemas.ReceivedSchema)
    def post(self, data, grant):
        """Submit a partner's answers.

        Stores the answers once and evaluates the alert rules; the link is then used. Answers the
        instrument does not accept are 422; a used link is 409, an expired one 410.
        """
        evaluation.record_partner_feedback(grant, data)
        return {"status": "received", "message": recording.THANKS}
