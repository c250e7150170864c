"""Server-rendered pages; live updates come over the WebSocket (static/js/generation.js)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from billing.services import ensure_account
from generation import services
from generation.models import Generation, Room
from generation.styles import QUALITIES, ROOM_TYPES, STYLES
from interiorai.api import ApiError


def signup(request: HttpRequest) -> HttpResponse:
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        ensure_account(user)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("dashboard")
    return render(request, "registration/signup.html", {"form": form})


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    rooms = Room.objects.filter(owner=request.user)[:12]
    recent = Generation.objects.filter(owner=request.user).select_related("room")[:8]
    return render(request, "web/dashboard.html", {"rooms": rooms, "recent": recent})


@login_required
def room_new(request: HttpRequest) -> HttpResponse:
    error = None
    if request.method == "POST":
        upload = request.FILES.get("photo")
        try:
            if upload is None:
                raise ApiError("missing_photo", "Choose a photo of your room first.")
            room = services.create_room(
                request.user,
                name=request.POST.get("name", "").strip()[:120] or "My room",
                room_type=_room_type(request.POST.get("room_type")),
                photo_bytes=upload.read(),
            )
        except ApiError as exc:
            error = exc.message
        else:
            return redirect("room-detail", pk=room.pk)
    return render(
        request, "web/room_new.html", {"room_types": ROOM_TYPES, "error": error}, status=400 if error else 200
    )


def _room_type(value: str | None) -> str:
    return value if value in dict(ROOM_TYPES) else "living_room"


@login_required
def room_detail(request: HttpRequest, pk: str) -> HttpResponse:
    room = get_object_or_404(Room, pk=pk, owner=request.user)
    account = ensure_account(request.user)
    error = None
    if request.method == "POST":
        try:
            style = request.POST.get("style", "")
            if style not in {s.slug for s in STYLES}:
                raise ApiError("invalid", "Pick a style.")
            quality = request.POST.get("quality", "medium")
            generation = services.create_generation(
                request.user,
                room,
                style=style,
                room_type=_room_type(request.POST.get("room_type") or room.room_type),
                prompt=request.POST.get("prompt", "")[:500],
                quality=quality if quality in QUALITIES else "medium",
                n=1,
                request_id=getattr(request, "request_id", ""),
            )
        except ApiError as exc:
            error = exc.message
        else:
            return redirect("generation-detail", pk=generation.pk)
    context = {
        "room": room,
        "styles": STYLES,
        "room_types": ROOM_TYPES,
        "qualities": account.tier.allowed_qualities,
        "error": error,
        "generations": room.generations.all()[:12],
    }
    return render(request, "web/room_detail.html", context, status=402 if error and "plan" in error else 200)


@login_required
def generation_detail(request: HttpRequest, pk: str) -> HttpResponse:
    generation = get_object_or_404(Generation.objects.select_related("room"), pk=pk, owner=request.user)
    if request.method == "POST" and request.POST.get("action") == "cancel":
        services.cancel(generation)
        messages.info(request, "Generation cancelled; you were not charged.")
        return redirect("generation-detail", pk=pk)
    return render(
        request, "web/generation_detail.html", {"generation": generation, "payload": services.event_payload(generation)}
    )


@login_required
def history(request: HttpRequest) -> HttpResponse:
    page = Paginator(Generation.objects.filter(owner=request.user).select_related("room"), 24).get_page(
        request.GET.get("page")
    )
    return render(request, "web/history.html", {"page": page})
