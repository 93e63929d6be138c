from flask.views import MethodView

from service.audit import schemas, service
from service.http.extensions import Blueprint, require
from service.http.pagination import paged

blp = Blueprint(
    "audit",
    __name__,
    url_prefix="/v1/audit-events",
    description="Who read or changed what, when (admins and `audit.read`).",
)


@blp.route("")
class AuditEvents(MethodView):
    @require("audit.read")
    @blp.arguments(schemas.AuditQuerySchema, location="query")
    @blp.response(200, schemas.AuditPageSchema)
    def get(self, query):
        """List audit events: who read or changed what, when.

        Filter by resource, actor or action. Changes nothing.
        """
        return paged(service.list_events(**query))
