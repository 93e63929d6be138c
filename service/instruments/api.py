from flask.views import MethodView

from service.http.apidoc import sends
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
        """List the instruments the clinic can use: built-in and its own.

        Changes nothing.
        """
        return paged(service.list_instruments(**query))

    @require("clinic.write")
    @idempotent
    @blp.arguments(schemas.InstrumentCreateSchema)
    @blp.response(201, schemas.InstrumentSchema, headers=sends("Location"))
    def post(self, data):
        """Define an instrument of the clinic's own.

        Creates version 1. A key already used in the clinic is 409: publish a new version of that
        instrument instead.
        """
        instrument = service.define(data)
        return instrument, {"Location": f"/v1/instruments/{instrument.id}"}


@blp.route("/<uuid:instrument_id>")
class OneInstrument(MethodView):
    @require("feedback.read")
    @blp.response(200, schemas.InstrumentSchema)
    def get(self, instrument_id):
        """Read an instrument.

        Changes nothing.
        """
        return service.get(instrument_id)

    @require("clinic.write")
    @blp.arguments(schemas.InstrumentChangeSchema)
    @blp.response(200, schemas.InstrumentSchema)
    def patch(self, changes, instrument_id):
        """Change an instrument that has no responses yet.

        Only the fields sent change. A built-in instrument, or a version that has responses, is
        frozen (409): publish a new version.
        """
        return service.revise(instrument_id, changes)


@blp.route("/<uuid:instrument_id>/versions")
class InstrumentVersions(MethodView):
    @require("clinic.write")
    @blp.arguments(schemas.InstrumentChangeSchema)
    @blp.response(201, schemas.InstrumentSchema, headers=sends("Location"))
    def post(self, changes, instrument_id):
        """Publish a new version of an instrument.

        Creates the next version with the content given; answers to earlier versions keep their
        meaning.
        """
        instrument = service.publish_version(instrument_id, changes)
        return instrument, {"Location": f"/v1/instruments/{instrument.id}"}


@blp.route("/<uuid:instrument_id>/default")
class DefaultInstrument(MethodView):
    @require("clinic.write")
    @blp.response(200, schemas.InstrumentSchema)
    def post(self, instrument_id):
        """Make an instrument the clinic's default feedback form.

        Partners are asked with it after each completed session from now on. Only an `alliance`
        instrument can be the default (422).
        """
        return service.make_default(instrument_id)
