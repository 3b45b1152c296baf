"""WSGI entry point: `gunicorn wsgi:app`."""

from fundraise import create_app

app = create_app()
