from django.urls import path

from web import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", views.logout_view, name="logout"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/verify/<str:token>/", views.verify_email, name="verify-email"),
    path("rooms/new/", views.room_new, name="room-new"),
    path("rooms/<uuid:pk>/", views.room_detail, name="room-detail"),
    path("rooms/<uuid:pk>/delete/", views.room_delete, name="room-delete"),
    path("generations/", views.history, name="history"),
    path("generations/<uuid:pk>/", views.generation_detail, name="generation-detail"),
    path("generations/<uuid:pk>/cancel/", views.generation_cancel, name="generation-cancel"),
    path("generations/<uuid:pk>/again/", views.generation_again, name="generation-again"),
    path("generations/<uuid:pk>/delete/", views.generation_delete, name="generation-delete"),
    path("account/", views.account, name="account"),
    path("account/delete/", views.account_delete, name="account-delete"),
]
