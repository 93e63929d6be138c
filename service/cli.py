"""Operator commands: `flask --app wsgi <command>`; each prints JSON on stdout."""

import json

import click
from flask import Flask, current_app
from flask.cli import with_appcontext


def register(app: Flask) -> None:
    app.cli.add_command(seed_demo)


@click.command("seed-demo")
@with_appcontext
def seed_demo() -> None:
    """Create the demo clinic, staff and docs client (development only; idempotent)."""
    from service import demo

    try:
        result = demo.seed(current_app.config["SETTINGS"])
    except demo.DemoRefused as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(result, indent=2))
