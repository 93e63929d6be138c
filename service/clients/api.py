from service.http.api import Blueprint

blp = Blueprint("clients", __name__, url_prefix="/v1/clients", description="Integrator clients.")
