"""`/v1/clients`: the clinic's integrator clients (admins)."""

from flask.views import MethodView

from service.clients import schemas, service
from service.http.apidoc import sends
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
        """List the clinic's integrator clients.

        Changes nothing; secrets are never listed.
        """
        return paged(service.list_clients(**query))

    @require("clinic.write", **ADMIN)
    @idempotent(redact=("client_secret",))
    @blp.arguments(schemas.ClientSchema)
    @blp.response(201, schemas.ClientRegisteredSchema, headers=sends("Location"))
    def post(self, data):
        """Register an integrator client.

        Creates an OAuth client of the clinic with the scopes given. For `client_secret_basic` the
        `client_secret` is shown in this response only (an `Idempotency-Key` replay shows null); for
        `private_key_jwt` give exactly one of `jwks` and `jwks_uri`.
        """
        registered = service.register(data)
        return registered, {"Location": f"/v1/clients/{registered.resource.id}"}


@blp.route("/<uuid:client_id>")
class ClientItem(MethodView):
    @require("clinic.write", **ADMIN)
    @blp.response(200, schemas.ClientSchema)
    def get(self, client_id):
        """Read an integrator client.

        Changes nothing.
        """
        return service.get(client_id)


@blp.route("/<uuid:client_id>/revoke", methods=["POST"])
@require("clinic.write", **ADMIN)
@blp.response(200, schemas.ClientSchema)
def revoke(client_id):
    """Revoke an integrator client.

    Its tokens stop working at once and it can get no new ones. It cannot be undone: register a new
    client instead.
    """
    return service.revoke(client_id)
