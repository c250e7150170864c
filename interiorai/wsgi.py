"""WSGI entry point (the naive baseline in the benchmark runs behind gunicorn through it)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "interiorai.settings")
application = get_wsgi_application()
