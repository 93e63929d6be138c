"""`/v1/clients`: the clinic's integrator clients (admins)."""

from flask.views import MethodView

from service.clients import schemas, service
from service.http.extensions import Blueprint, idempotent, require
from service.http.pagination import PageQuerySchema, paged

blp = Blueprint("clients", __name__, url_prefix="/v1/clients", description="Integrator clients.")

ADMIN = {"roles": ("admin",)}


@blp.route("")
class Clients(MethodView):
    @require("clinic.write", **ADMIN)
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, schemas.ClientPageSchema)
    def get(self, query):
        return paged(service.list_clients(**query))

    @require("clinic.write", **ADMIN)
    @idempotent(redact=("client_secret",))
    @blp.arguments(schemas.ClientSchema)
    @blp.response(201, schemas.ClientRegisteredSchema)
    def post(self, data):
        """Register an integrator client; a `client_secret` is shown in this response only."""
        registered = service.register(data)
        return registered, {"Location": f"/v1/clients/{registered.resource.id}"}


@blp.route("/<uuid:client_id>")
class ClientItem(MethodView):
    @require("clinic.write", **ADMIN)
    @blp.response(200, schemas.ClientSchema)
    def get(self, client_id):
        return service.get(client_id)


@blp.route("/<uuid:client_id>/revoke", methods=["POST"])
@require("clinic.write", **ADMIN)
@blp.response(200, schemas.ClientSchema)
def revoke(client_id):
    """Its tokens stop working at once; it can get no new ones."""
    return service.revoke(client_id)
