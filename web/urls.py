from django.contrib.auth import views as auth_views
from django.urls import path

from web import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", views.signup, name="signup"),
    path("rooms/new/", views.room_new, name="room-new"),
    path("rooms/<uuid:pk>/", views.room_detail, name="room-detail"),
    path("generations/", views.history, name="history"),
    path("generations/<uuid:pk>/", views.generation_detail, name="generation-detail"),
]
