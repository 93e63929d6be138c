from flask.views import MethodView

from service.http.extensions import Blueprint, idempotent, require
from service.http.pagination import paged
from service.instruments import schemas, service

blp = Blueprint(
    "instruments",
    __name__,
    url_prefix="/v1/instruments",
    description="Feedback questionnaires: built-in SAC-8 and the clinic's own.",
)


@blp.route("")
class Instruments(MethodView):
    @require("feedback.read")
    @blp.arguments(schemas.InstrumentQuerySchema, location="query")
    @blp.response(200, schemas.InstrumentPageSchema)
    def get(self, query):
        return paged(service.list_instruments(**query))

    @require("clinic.write")
    @idempotent
    @blp.arguments(schemas.InstrumentCreateSchema)
    @blp.response(201, schemas.InstrumentSchema)
    def post(self, data):
        instrument = service.define(data)
        return instrument, {"Location": f"/v1/instruments/{instrument.id}"}


@blp.route("/<uuid:instrument_id>")
class OneInstrument(MethodView):
    @require("feedback.read")
    @blp.response(200, schemas.InstrumentSchema)
    def get(self, instrument_id):
        return service.get(instrument_id)

    @require("clinic.write")
    @blp.arguments(schemas.InstrumentChangeSchema)
    @blp.response(200, schemas.InstrumentSchema)
    def patch(self, changes, instrument_id):
        return service.revise(instrument_id, changes)


@blp.route("/<uuid:instrument_id>/versions")
class InstrumentVersions(MethodView):
    @require("clinic.write")
    @blp.arguments(schemas.InstrumentChangeSchema)
    @blp.response(201, schemas.InstrumentSchema)
    def post(self, changes, instrument_id):
        instrument = service.publish_version(instrument_id, changes)
        return instrument, {"Location": f"/v1/instruments/{instrument.id}"}


@blp.route("/<uuid:instrument_id>/default")
class DefaultInstrument(MethodView):
    @require("clinic.write")
    @blp.response(200, schemas.InstrumentSchema)
    def post(self, instrument_id):
        return service.make_default(instrument_id)
