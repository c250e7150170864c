from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from developers.auth import ObtainTokenView
from generation.api import views as api_views
from ops import health, metrics
from ops.dashboard import ops_view

handler404 = "core.api.json_not_found"
handler500 = "core.api.json_server_error"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/ops/", admin.site.admin_view(ops_view), name="ops"),
    path("admin/", admin.site.urls),
    path("api/v1/auth/token/", ObtainTokenView.as_view(), name="api-token"),
    path("api/v1/", include("generation.api.urls")),
    path("api/v1/", include("developers.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("media/rooms/<uuid:pk>/photo/", api_views.MediaView.as_view(), name="room-photo"),
    path("media/generations/<uuid:pk>/<int:index>/", api_views.MediaView.as_view(), name="generation-image"),
    path("developers/", include("developers.urls")),
    path("", include("web.urls")),
]
