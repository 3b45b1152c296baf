"""The JSON API under /api/v1."""

from flask import Flask


def init_app(app: Flask) -> None:
    from fundraise.api.routes import bp

    app.register_blueprint(bp)
