from flask.views import MethodView

from service.auth.resource import require
from service.http import etags
from service.http.api import Blueprint
from service.http.idempotency import idempotent
from service.http.pagination import paged
from service.therapy_sessions import schemas, service

blp = Blueprint(
    "sessions",
    __name__,
    url_prefix="/v1/sessions",
    description="Therapy sessions: schedule, complete with time shares, cancel.",
)


@blp.route("")
class Sessions(MethodView):
    @require("sessions.read")
    @blp.arguments(schemas.SessionQuerySchema, location="query")
    @blp.response(200, schemas.SessionPageSchema)
    def get(self, query):
        return paged(service.list_sessions(**query))

    @require("sessions.write")
    @idempotent
    @blp.documents_idempotency
    @blp.arguments(schemas.SessionCreateSchema)
    @blp.response(201, schemas.SessionSchema)
    def post(self, data):
        booked = service.schedule(data)
        return booked, {
            "Location": f"/v1/sessions/{booked.id}",
            **etags.headers_for(booked.version),
        }


@blp.route("/<uuid:session_id>")
class OneSession(MethodView):
    @require("sessions.read")
    @blp.response(200, schemas.SessionSchema)
    def get(self, session_id):
        booked = service.get(session_id)
        return booked, etags.headers_for(booked.version)

    @require("sessions.write")
    @blp.if_match
    @blp.arguments(schemas.SessionPatchSchema)
    @blp.response(200, schemas.SessionSchema)
    def patch(self, changes, session_id):
        booked = service.reschedule(session_id, changes, etags.check)
        return booked, etags.headers_for(booked.version)


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
