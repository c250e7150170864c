from django.urls import include, path
from rest_framework.routers import DefaultRouter

from generation.api import views

router = DefaultRouter(trailing_slash=True)
router.register("rooms", views.RoomViewSet, basename="room")
router.register("generations", views.GenerationViewSet, basename="generation")

urlpatterns = [
    path("styles/", views.StylesView.as_view(), name="styles"),
    path("usage/", views.UsageView.as_view(), name="usage"),
    path("account/", views.AccountView.as_view(), name="account"),
    path("account/export/", views.AccountExportView.as_view(), name="account-export"),
    path("", include(router.urls)),
]
