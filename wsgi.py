"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

from service import create_app
from service.cli import register

app = create_app()
register(app)
