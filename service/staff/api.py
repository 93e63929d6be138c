from service.http.api import Blueprint

blp = Blueprint("staff", __name__, url_prefix="/v1/staff", description="Staff of the clinic.")
