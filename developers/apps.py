from django.apps import AppConfig


class DevelopersConfig(AppConfig):
    name = "developers"
    verbose_name = "Developers: API tokens and webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, once models have loaded (the one place an app's modules may be imported late).
        from developers import openapi, serializers, webhooks  # noqa: F401 - openapi's schema extensions register on import
        from generation import plugins
        from generation.signals import generation_finished

        # Webhooks are a plug-in of the generation domain, which never imports them: it announces, they listen.
        generation_finished.connect(webhooks.on_generation_finished, dispatch_uid="developers.webhooks")
        plugins.accept_callbacks(serializers.registered_endpoint_url)
