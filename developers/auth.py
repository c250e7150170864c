"""Obtaining an API token with a username and password (each call mints a new token named "api login")."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from billing.services import ensure_account
from core.throttle import FailOpenMixin
from developers.tokens import create_login_token


class LoginThrottle(FailOpenMixin, AnonRateThrottle):
    """Login attempts per client address (scope `login`), before django-axes counts the failures among them."""

    scope = "login"


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, trim_whitespace=False, style={"input_type": "password"})

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        request = self.context.get("request")
        # The Django request itself: django-axes marks a lock-out on it, and its middleware answers for it.
        http_request = getattr(request, "_request", request)
        user = authenticate(http_request, username=attrs["username"], password=attrs["password"])
        if user is None:
            raise serializers.ValidationError("Unable to log in with these credentials.", code="authorization")
        attrs["user"] = user
        return attrs


class ObtainTokenView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle]

    @extend_schema(
        summary="Log in with a username and password and get a new API token",
        description=(
            "Every call mints a new token named `api login` (only a hash is kept, so an old key cannot be handed "
            "out again). The 20 newest login tokens of a user stay valid; older ones are revoked. Tokens made on "
            "the developers page are never revoked by this."
        ),
        request=LoginSerializer,
        responses={200: inline_serializer("TokenResponse", {"token": serializers.CharField()})},
        examples=[
            OpenApiExample(
                "Login", value={"username": "alice", "password": "correct horse battery"}, request_only=True
            ),
            OpenApiExample(
                "Token", value={"token": "iai_3q2Vx0u9sLr2c5Qp8mT1nZ4yB6wD7eF0gH1iJ2kL3mN"}, response_only=True
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        form = LoginSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        user = form.validated_data["user"]
        ensure_account(user)
        return Response({"token": create_login_token(user)})
