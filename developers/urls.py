from django.urls import path, re_path

from developers import views

urlpatterns = [
    path("", views.index, name="developers"),
    path("tokens/", views.token_create, name="developers-token-create"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="developers-token-revoke"),
    path("webhooks/", views.endpoint_create, name="developers-endpoint-create"),
    path("webhooks/<uuid:pk>/", views.endpoint_detail, name="developers-endpoint"),
    re_path(
        r"^webhooks/(?P<pk>[0-9a-f-]{36})/(?P<action>disable|enable|rotate|delete)/$",
        views.endpoint_action,
        name="developers-endpoint-action",
    ),
    path("deliveries/<uuid:pk>/", views.delivery_detail, name="developers-delivery"),
    path("deliveries/<uuid:pk>/replay/", views.delivery_replay, name="developers-delivery-replay"),
]
