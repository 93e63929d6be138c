from flask import Blueprint

blp = Blueprint("staff_pages", __name__, template_folder="templates")
