"""WSGI entry for the naive baseline under gunicorn: loads the URLs and the SDK before workers fork.

gunicorn's worker timeout (30 s, scaled to 1 s like every deadline here) would otherwise kill a worker that
is still importing on its first request.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.naive_settings")

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

application = get_wsgi_application()
get_resolver().url_patterns  # noqa: B018 - imports every view module now
