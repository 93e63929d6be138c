"""Operator commands: `flask --app wsgi <command>`; each prints JSON on stdout."""

from flask import Flask


def register(app: Flask) -> None:
    pass
