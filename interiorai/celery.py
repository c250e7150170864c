"""The Celery app: configured from Django settings, tasks discovered in the apps."""

from __future__ import annotations

import os
import sys

from celery import Celery
from celery.signals import worker_init
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "interiorai.settings")

app = Celery("interiorai")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["generation.runtime"])  # the generation tasks live with the rest of the worker side


def check_redelivery_settings(visibility_timeout: float, run_bound: float, max_countdown: float) -> None:
    """Refuse settings under which Redis would hand a running or delayed job to a second worker.

    `run_bound` is the longest a run can take (GENERATION_RUN_BOUND_S: its every blocking step has a timeout of its
    own). Celery's time limits cannot stand in for it: the threads pool the workers run does not enforce them.
    """
    needed = run_bound + max_countdown
    if visibility_timeout <= needed:
        raise RuntimeError(
            f"CELERY_VISIBILITY_TIMEOUT_S={visibility_timeout:.0f} must exceed the longest run plus the "
            f"longest retry delay ({run_bound:.0f} + {max_countdown:.0f} s): Redis would redeliver running jobs"
        )


@worker_init.connect
def refuse_unsafe_settings(**_: object) -> None:
    try:
        check_redelivery_settings(
            float(settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]),  # type: ignore[arg-type]
            settings.GENERATION_RUN_BOUND_S,
            settings.RETRY_MAX_DELAY_S,
        )
    except RuntimeError as exc:
        # Celery logs and swallows exceptions from signal handlers: exit so the worker really does not start.
        print(f"refusing to start: {exc}", file=sys.stderr)
        raise SystemExit(os.EX_CONFIG) from exc  # a supervisor must not restart it: it would only refuse again
