"""`/v1/sessions/**`: scheduling, completion (which asks each partner for feedback), the
partners' links, and the feedback recorded for a session."""

from flask import current_app
from flask.views import MethodView

from service.alerts import evaluation
from service.feedback import history, links
from service.feedback import schemas as feedback_schemas
from service.http import etags
from service.http.apidoc import sends
from service.http.extensions import Blueprint, idempotent, if_match, require
from service.http.pagination import paged
from service.therapy_sessions import schemas, service

blp = Blueprint(
    "sessions",
    __name__,
    url_prefix="/v1/sessions",
    description="Therapy sessions: schedule, complete with time shares, cancel; feedback.",
)


def _link_base() -> str:
    return current_app.config["SETTINGS"].base_url


def _with_etag(booked, **headers):
    return booked, {**etags.headers_for(booked.version), **headers}


@blp.route("")
class Sessions(MethodView):
    @require("sessions.read")
    @blp.arguments(schemas.SessionQuerySchema, location="query")
    @blp.response(200, schemas.SessionPageSchema)
    def get(self, query):
        """List sessions, filtered by time, therapist, couple or status.

        A therapist sees their own caseload's; supervisors and admins, the clinic's. Changes
        nothing.
        """
        return paged(service.list_sessions(**query))

    @require("sessions.write")
    @idempotent
    @blp.arguments(schemas.SessionCreateSchema)
    @blp.response(201, schemas.SessionSchema, headers=sends("Location", "ETag"))
    def post(self, data):
        """Book a session for a couple.

        `therapist_id` defaults to the couple's therapist. An overlap with another session of the
        therapist is 409; an unknown couple or therapist is 422.
        """
        booked = service.schedule(data)
        return _with_etag(booked, Location=f"/v1/sessions/{booked.id}")


@blp.route("/<uuid:session_id>")
class OneSession(MethodView):
    @require("sessions.read")
    @blp.response(200, schemas.SessionSchema, headers=sends("ETag"))
    def get(self, session_id):
        """Read a session.

        Changes nothing.
        """
        return _with_etag(service.get(session_id))

    @require("sessions.write")
    @if_match
    @blp.arguments(schemas.SessionPatchSchema)
    @blp.response(200, schemas.SessionSchema, headers=sends("ETag"))
    def patch(self, changes, session_id):
        """Reschedule a session or change its therapist or modality.

        Only the fields sent change; only a scheduled session can change (409), and not onto another
        of the therapist's bookings (409).
        """
        return _with_etag(service.reschedule(session_id, changes, etags.check))


@blp.route("/<uuid:session_id>/cancel")
class CancelSession(MethodView):
    @require("sessions.write")
    @blp.arguments(schemas.CancelSchema)
    @blp.response(200, schemas.SessionSchema)
    def post(self, data, session_id):
        """Cancel a scheduled session, with a reason.

        Sets `status` to `cancelled`; no feedback is asked for. A session that is not scheduled is
        409.
        """
        return service.cancel(session_id, data["reason"])


@blp.route("/<uuid:session_id>/no-show")
class NoShow(MethodView):
    @require("sessions.write")
    @blp.response(200, schemas.SessionSchema)
    def post(self, session_id):
        """Record that the couple did not come.

        Sets `status` to `no_show`; no feedback is asked for. A session that is not scheduled is
        409.
        """
        return service.mark_no_show(session_id)


@blp.route("/<uuid:session_id>/complete")
class CompleteSession(MethodView):
    @require("sessions.write")
    @blp.arguments(schemas.CompleteSchema, required=False)
    @blp.response(200, feedback_schemas.CompletedSchema)
    def post(self, data, session_id):
        """Complete a session and ask both partners for feedback.

        Sets `status` to `completed`, stores the talking-time shares (one per partner, summing to
        100, else 422) and sends each partner a feedback link on their channel, in one transaction.
        A session that is not scheduled, or has not started yet, is 409.
        """
        return links.complete_session(session_id, data.get("time_share"), _link_base())


@blp.route("/<uuid:session_id>/feedback-links")
class ReissueLinks(MethodView):
    @require("sessions.write")
    @blp.response(200, feedback_schemas.LinksSchema)
    def post(self, session_id):
        """Issue fresh in-clinic feedback links for a completed session.

        For the partners who answer in the clinic and have not answered yet; their earlier links
        stop working.
        """
        return {"feedback_links": links.reissue_in_clinic_links(session_id, _link_base())}


@blp.route("/<uuid:session_id>/feedback")
class SessionFeedback(MethodView):
    @require("feedback.read")
    @blp.response(200, feedback_schemas.ResponseListSchema)
    def get(self, session_id):
        """List the feedback responses of a session.

        A partner's private comment and safety flag are shown to staff only (null for integrator
        clients). Changes nothing.
        """
        return {"items": history.session_responses(session_id)}

    @require("feedback.write")
    @blp.arguments(feedback_schemas.StaffEntrySchema)
    @blp.response(201, feedback_schemas.ResponseSchema)
    def post(self, data, session_id):
        """Enter a partner's answers for a completed session (paper or in clinic).

        Stores the response and evaluates the alert rules, as a partner's own answers would. A
        session that is not completed, or a partner who already answered, is 409; a partner of
        another couple, or answers the instrument does not accept, is 422.
        """
        return evaluation.record_staff_entry(session_id, data)
