from flask import Blueprint

blp = Blueprint("oauth", __name__, template_folder="templates")
