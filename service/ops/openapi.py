"""Render the OpenAPI document deterministically; `python -m service.ops.openapi PATH` writes
the committed copy (openapi/openapi.json), which a test keeps in step with the code."""

from __future__ import annotations

import json
import sys

from flask import Flask


def render(app: Flask) -> str:
    api = app.extensions["flask-smorest"]["apis"][""]["ext_obj"]
    return json.dumps(api.spec.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(path: str) -> None:
    from service import create_app
    from service.settings import Settings

    with open(path, "w", encoding="utf-8") as out:
        out.write(render(create_app(Settings(env="development", log_level="WARNING"))))


if __name__ == "__main__":
    main(sys.argv[1])
