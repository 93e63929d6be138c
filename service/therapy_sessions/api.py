"""`/v1/sessions/**`: scheduling, completion (which asks each partner for feedback), the
partners' links, and the feedback recorded for a session."""

from flask import current_app
from flask.views import MethodView

from service.alerts import evaluation
from service.feedback import history, links
from service.feedback import schemas as feedback_schemas
from service.http import etags
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
        return paged(service.list_sessions(**query))

    @require("sessions.write")
    @idempotent
    @blp.arguments(schemas.SessionCreateSchema)
    @blp.response(201, schemas.SessionSchema)
    def post(self, data):
        booked = service.schedule(data)
        return _with_etag(booked, Location=f"/v1/sessions/{booked.id}")


@blp.route("/<uuid:session_id>")
class OneSession(MethodView):
    @require("sessions.read")
    @blp.response(200, schemas.SessionSchema)
    def get(self, session_id):
        return _with_etag(service.get(session_id))

    @require("sessions.write")
    @if_match
    @blp.arguments(schemas.SessionPatchSchema)
    @blp.response(200, schemas.SessionSchema)
    def patch(self, changes, session_id):
        return _with_etag(service.reschedule(session_id, changes, etags.check))


@blp.route("/<uuid:session_id>/cancel")
class CancelSession(MethodView):
    @require("sessions.write")
    @blp.arguments(schemas.CancelSchema)
    @blp.response(200, schemas.SessionSchema)
    def post(self, data, session_id):
        return service.cancel(session_id, data["reason"])


@blp.route("/<uuid:session_id>/no-show")
class NoShow(MethodView):
    @require("sessions.write")
    @blp.response(200, schemas.SessionSchema)
    def post(self, session_id):
        return service.mark_no_show(session_id)


@blp.route("/<uuid:session_id>/complete")
class CompleteSession(MethodView):
    @require("sessions.write")
    @blp.arguments(schemas.CompleteSchema, required=False)
    @blp.response(200, feedback_schemas.CompletedSchema)
    def post(self, data, session_id):
        return links.complete_session(session_id, data.get("time_share"), _link_base())


@blp.route("/<uuid:session_id>/feedback-links")
class ReissueLinks(MethodView):
    @require("sessions.write")
    @blp.response(200, feedback_schemas.LinksSchema)
    def post(self, session_id):
        return {"feedback_links": links.reissue_in_clinic_links(session_id, _link_base())}


@blp.route("/<uuid:session_id>/feedback")
class SessionFeedback(MethodView):
    @require("feedback.read")
    @blp.response(200, feedback_schemas.ResponseListSchema)
    def get(self, session_id):
        return {"items": history.session_responses(session_id)}

    @require("feedback.write")
    @blp.arguments(feedback_schemas.StaffEntrySchema)
    @blp.response(201, feedback_schemas.ResponseSchema)
    def post(self, data, session_id):
        return evaluation.record_staff_entry(session_id, data)
