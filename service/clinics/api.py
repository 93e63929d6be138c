from flask.views import MethodView

from service.auth.resource import require
from service.clinics import schemas, service
from service.http import etags
from service.http.api import Blueprint

blp = Blueprint(
    "clinic",
    __name__,
    url_prefix="/v1/clinic",
    description="The caller's own clinic: name, timezone, locale, settings.",
)


@blp.route("")
class OwnClinic(MethodView):
    @require("clinic.read")
    @blp.response(200, schemas.ClinicSchema)
    def get(self):
        clinic = service.own()
        return clinic, etags.headers_for(clinic.version)

    @require("clinic.write")
    @blp.if_match
    @blp.arguments(schemas.ClinicPatchSchema)
    @blp.response(200, schemas.ClinicSchema)
    def patch(self, changes):
        clinic = service.update_own(changes, etags.check)
        return clinic, etags.headers_for(clinic.version)
