"""Obtaining an API token with a username and password."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from billing.services import ensure_account


class LoginThrottle(AnonRateThrottle):
    rate = "20/min"


class ObtainTokenView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle]

    @extend_schema(
        request=AuthTokenSerializer,
        responses={200: inline_serializer("TokenResponse", {"token": serializers.CharField()})},
    )
    def post(self, request: Request) -> Response:
        form = AuthTokenSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        user = form.validated_data["user"]
        ensure_account(user)
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})
