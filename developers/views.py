"""The developers pages: API tokens, webhook endpoints and their delivery log."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core.api import ApiError
from core.pacing import spend_work
from developers import netguard, tokens, webhooks
from developers.models import ApiToken, WebhookDelivery, WebhookEndpoint


def _index(request: HttpRequest, *, token_error: str = "", endpoint_error: str = "", status: int = 200) -> HttpResponse:
    context = {
        "tokens": ApiToken.objects.filter(user=request.user),
        "endpoints": WebhookEndpoint.objects.filter(user=request.user),
        "token_error": token_error,
        "endpoint_error": endpoint_error,
        "form": request.POST if request.method == "POST" else {},
    }
    return render(request, "developers/index.html", context, status=status)


@login_required
def index(request: HttpRequest) -> HttpResponse:
    return _index(request)


def _show_secret(request: HttpRequest, *, title: str, secret: str, what: str, back: str) -> HttpResponse:
    response = render(request, "developers/secret.html", {"title": title, "secret": secret, "what": what, "back": back})
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    name = request.POST.get("name", "").strip()
    if not name:
        message = "Give the token a name, e.g. where it will be used."
        return _index(request, token_error=message, status=400)
    _, key = tokens.create_token(request.user, name[:100])
    return _show_secret(request, title=f"Token “{name[:100]}” created", secret=key, what="token", back="/developers/")


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    if tokens.revoke_token(token):
        messages.info(request, f"Token “{token.name}” revoked: requests carrying it are refused from now on.")
    return redirect("developers")


@never_cache
@login_required
@require_POST
def endpoint_create(request: HttpRequest) -> HttpResponse:
    try:
        url = webhooks.check_url(request.POST.get("url", ""))
        endpoint = webhooks.create_endpoint(request.user, url, request.POST.get("description", "").strip()[:200])
    except netguard.Refused as exc:
        return _index(request, endpoint_error=str(exc), status=400)
    except ApiError as exc:
        return _index(request, endpoint_error=exc.message, status=400)
    return _show_secret(
        request,
        title=f"Endpoint {endpoint.url} registered",
        secret=endpoint.secret,
        what="signing secret",
        back=f"/developers/webhooks/{endpoint.pk}/",
    )


@login_required
def endpoint_detail(request: HttpRequest, pk: str) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk, user=request.user)
    page = Paginator(endpoint.deliveries.all(), 25).get_page(request.GET.get("page"))
    return render(request, "developers/endpoint_detail.html", {"endpoint": endpoint, "page": page})


@never_cache
@login_required
@require_POST
def endpoint_action(request: HttpRequest, pk: str, action: str) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk, user=request.user)
    if action == "rotate":
        endpoint = webhooks.rotate_secret(endpoint)
        return _show_secret(
            request,
            title="Signing secret rotated",
            secret=endpoint.secret,
            what="new signing secret",
            back=f"/developers/webhooks/{endpoint.pk}/",
        )
    if action == "delete":
        webhooks.delete_endpoint(endpoint)
        messages.info(request, f"Endpoint {endpoint.url} deleted.")
        return redirect("developers")
    if action == "disable" and webhooks.disable_endpoint(endpoint):
        messages.info(request, "Endpoint disabled: nothing is sent to it until you enable it again.")
    elif action == "enable" and webhooks.enable_endpoint(endpoint):
        messages.info(request, "Endpoint enabled.")
    return redirect("developers-endpoint", pk=endpoint.pk)


@login_required
def delivery_detail(request: HttpRequest, pk: str) -> HttpResponse:
    delivery = get_object_or_404(WebhookDelivery.objects.select_related("endpoint"), pk=pk, endpoint__user=request.user)
    return render(request, "developers/delivery_detail.html", {"delivery": delivery})


@login_required
@require_POST
def delivery_replay(request: HttpRequest, pk: str) -> HttpResponse:
    delivery = get_object_or_404(WebhookDelivery.objects.select_related("endpoint"), pk=pk, endpoint__user=request.user)
    try:
        spend_work(request.user)
        replayed = webhooks.replay(delivery)
    except ApiError as exc:
        messages.error(request, exc.message)
    else:
        messages.info(request, "Sending it again." if replayed else "It is still being attempted.")
    return redirect("developers-delivery", pk=delivery.pk)
