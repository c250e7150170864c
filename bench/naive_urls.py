"""The product's URLs (uploads, /healthz) plus the naive design's `POST /naive/generate`."""

from django.urls import path

from bench import naive
from interiorai.urls import urlpatterns as product_urlpatterns

urlpatterns = [
    path("naive/generate", naive.generate, name="naive-generate"),
    path("naive/media/<str:name>", naive.media, name="naive-media"),
    *product_urlpatterns,
]
