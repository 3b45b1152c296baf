"""The JSON API under /api/v1: marshmallow schemas, bearer-token or session callers, an OpenAPI document."""

from flask import Flask

from fundraise.api.routes import bp, init_blueprint


def init_app(app: Flask) -> None:
    import fundraise.api.donations  # noqa: F401  (adds the giving routes to the blueprint)
    from fundraise.api import (
        audit,  # noqa: F401  (adds the audit checkpoints to the blueprint)
        close_out,  # noqa: F401  (adds closing a campaign out to the blueprint)
        consents,  # noqa: F401  (adds the privacy notice's version and consents to the blueprint)
        disbursements,  # noqa: F401  (adds payouts, settlement accounts and gifts' uses to the blueprint)
        findings,  # noqa: F401  (adds officers' samples and findings to the blueprint)
        personal_data,  # noqa: F401  (adds the caller's data archive and deletion request to the blueprint)
        register,  # noqa: F401  (adds the officers' register to the blueprint)
        relief,  # noqa: F401  (adds the relief projects, runs and offers to the blueprint)
        verification,  # noqa: F401  (adds its routes to the blueprint)
        vouching,  # noqa: F401  (adds vouching for and sharing a campaign to the blueprint)
    )

    init_blueprint(app)
    app.register_blueprint(bp)
