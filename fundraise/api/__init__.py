"""The JSON API under /api/v1: marshmallow schemas, bearer-token or session callers, an OpenAPI document."""

from flask import Flask


def init_app(app: Flask) -> None:
    from fundraise.api.routes import bp, init_blueprint

    init_blueprint(app)
    app.register_blueprint(bp)
