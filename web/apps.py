from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "web"

    def ready(self) -> None:
        # Imported here, once models have loaded (the one place an app's modules may be imported late).
        from generation.signals import generation_finished
        from web import notifications

        generation_finished.connect(notifications.on_generation_finished, dispatch_uid="web.notifications")
