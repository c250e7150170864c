from __future__ import annotations

from django.urls import path

from web.consumers import GenerationConsumer

websocket_urlpatterns = [path("ws/generations/", GenerationConsumer.as_asgi())]
