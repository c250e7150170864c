from django.apps import AppConfig


class DevelopersConfig(AppConfig):
    name = "developers"
    verbose_name = "Developers: API tokens and webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # drf-spectacular extensions take effect when imported; the schema view may be the first thing served.
        from developers import openapi  # noqa: F401
