"""Server-rendered pages; live updates come over the WebSocket (static/js/live.js, static/js/generation.js)."""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from billing.qualities import QUALITIES
from billing.services import ensure_account, start_email_verification
from billing.services import verify_email as billing_verify_email
from core.api import ApiError
from core.clientip import remote_addr
from core.pacing import spend_request, spend_work
from core.throttle import take
from generation import finish, presenter, privacy, rooms, services
from generation.admission import describe
from generation.models import Generation, Room
from generation.styles import ROOM_TYPES, STYLE_BY_SLUG, STYLES
from web import verification
from web.forms import GenerationForm, SignupForm


class AuthenticatedRequest(HttpRequest):
    """What a view behind login_required receives."""

    user: User


RENDERING_STAGES = (Generation.Stage.CALLING, Generation.Stage.STORING)
HISTORY_FILTERS = {
    "active": [Generation.Status.QUEUED, Generation.Status.RUNNING],
    "succeeded": [Generation.Status.SUCCEEDED],
    "failed": [Generation.Status.FAILED, Generation.Status.CANCELLED],
}


# Accounts ------------------------------------------------------------------------------------------------


class LoginView(auth_views.LoginView):
    redirect_authenticated_user = True


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("dashboard")
    verify = settings.SIGNUP_EMAIL_VERIFICATION
    form = SignupForm(request.POST or None, require_email=verify)
    if request.method == "POST" and form.is_valid():
        # Counted per address, and only for sign-ups that would go through: a typo costs nothing.
        wait = take(f"throttle_signup_{remote_addr(request)}", settings.SIGNUP_RATE)
        if wait is not None:
            context = {"form": form, "error": "Too many accounts were made from your network; try again later."}
            response = render(request, "registration/signup.html", context, status=429)
            response["Retry-After"] = str(math.ceil(wait))
            return response
        user = form.save()
        ensure_account(user)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        if verify:
            start_email_verification(user)
            verification.send_link(user)
            messages.success(request, f"Welcome! We sent a link to {user.email}: follow it to start redesigning.")
        else:
            messages.success(request, "Welcome to InteriorAI! Upload a photo of a room to get started.")
        return redirect("room-new")
    return render(request, "registration/signup.html", {"form": form}, status=400 if form.errors else 200)


def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    """The link sent at sign-up: it confirms the address, and the account may generate from then on."""
    user = verification.user_for(token)
    if user is None:
        messages.error(request, "This confirmation link is not valid (or has expired).")
        return redirect("dashboard" if request.user.is_authenticated else "login")
    billing_verify_email(user)
    messages.success(request, "Your email is confirmed: you can redesign rooms now.")
    return redirect("dashboard" if request.user.is_authenticated else "login")


@require_http_methods(["GET", "POST"])
def logout_view(request: HttpRequest) -> HttpResponse:
    """Log out on POST; a plain visit asks first, since logging out is a state change."""
    if request.method == "POST":
        logout(request)
        return redirect(settings.LOGOUT_REDIRECT_URL)
    if not request.user.is_authenticated:
        return redirect("login")
    return render(request, "registration/logout_confirm.html")


# Dashboard and rooms -------------------------------------------------------------------------------------


@login_required
def dashboard(request: AuthenticatedRequest) -> HttpResponse:
    rooms = Room.objects.filter(owner=request.user).annotate(generation_count=Count("generations"))
    recent = Generation.objects.filter(owner=request.user).select_related("room")[:8]
    context = {"rooms": rooms[:12], "room_count": rooms.count(), "recent": recent}
    return render(request, "web/dashboard.html", context)


@login_required
def room_new(request: AuthenticatedRequest) -> HttpResponse:
    error = None
    status = 200
    if request.method == "POST":
        try:
            spend_request(request.user)  # the upload form shares the API's per-user budget
            room = rooms.create_room(
                request.user,
                name=request.POST.get("name", "").strip()[:120] or "My room",
                room_type=_room_type(request.POST.get("room_type")),
                photo_bytes=_read_upload(request),
            )
        except ApiError as exc:
            error, status = exc.message, exc.status_code
        else:
            return redirect("room-detail", pk=room.pk)
    context = {
        "room_types": ROOM_TYPES,
        "error": error,
        "values": request.POST,
        "max_upload_bytes": settings.MAX_UPLOAD_BYTES,
        "max_upload_mb": settings.MAX_UPLOAD_BYTES // 2**20,
        "min_side": settings.MIN_UPLOAD_SIDE,
    }
    return render(request, "web/room_new.html", context, status=status)


def _read_upload(request: AuthenticatedRequest) -> bytes:
    upload = request.FILES.get("photo")
    if upload is None:
        raise ApiError("missing_photo", "Choose a photo of your room first.")
    if upload.size is not None and upload.size > settings.MAX_UPLOAD_BYTES:
        # Refused before it is read into memory; clean_photo checks the bytes again.
        raise ApiError("file_too_large", f"The photo is larger than {settings.MAX_UPLOAD_BYTES // 2**20} MB.", 413)
    return upload.read()


def _room_type(value: str | None) -> str:
    return value if value in dict(ROOM_TYPES) else "living_room"


@login_required
def room_detail(request: AuthenticatedRequest, pk: str) -> HttpResponse:
    """The room's photo and the generation form; a valid submission lands on the new generation's page."""
    room = get_object_or_404(Room, pk=pk, owner=request.user)
    account = ensure_account(request.user)
    initial = {"style": request.GET.get("style") or STYLES[0].slug, "room_type": room.room_type, "quality": "medium"}
    form = GenerationForm(request.POST or None, initial=initial)
    error, status, slow_lane = None, 200, None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            spend_work(request.user)
            generation = services.create_generation(
                request.user,
                room,
                style=data["style"],
                room_type=data["room_type"],
                prompt=data["prompt"],
                quality=data["quality"],
                n=data["n"] or 1,
                request_id=getattr(request, "request_id", ""),
                accept_slow=data["accept_slow"],
                notify_email=data["notify_email"],
            )
        except ApiError as exc:
            error, status = exc.message, exc.status_code
            slow_lane = exc.extra.get("slow_lane")
        else:
            return redirect("generation-detail", pk=generation.pk)
    elif form.errors:
        status = 400
    tier = account.tier
    context = {
        "room": room,
        "form": form,
        "selected_style": form["style"].value(),
        "selected_quality": form["quality"].value(),
        "styles": STYLES,
        "room_types": ROOM_TYPES,
        "qualities": [(quality, quality in tier.allowed_qualities) for quality in QUALITIES],
        "image_counts": range(1, tier.max_images + 1),
        "error": error,
        "slow_lane": slow_lane and {**slow_lane, "wait": describe(slow_lane["estimated_wait_s"])},
        "generations": room.generations.all()[:12],
    }
    return render(request, "web/room_detail.html", context, status=status)


@login_required
@require_POST
def room_delete(request: AuthenticatedRequest, pk: str) -> HttpResponse:
    room = get_object_or_404(Room, pk=pk, owner=request.user)
    try:
        rooms.delete_room(room)
    except ApiError as exc:  # one of its jobs is rendering: the room stays until that job ends
        messages.error(request, exc.message)
        return redirect("room-detail", pk=pk)
    messages.success(request, f"“{room.name}”, its photo and its designs were deleted.")
    return redirect("dashboard")


# Generations ---------------------------------------------------------------------------------------------


def owned_generation(request: AuthenticatedRequest, pk: str) -> Generation:
    return get_object_or_404(Generation.objects.select_related("room"), pk=pk, owner=request.user)


@login_required
def generation_detail(request: AuthenticatedRequest, pk: str) -> HttpResponse:
    generation = owned_generation(request, pk)
    context: dict[str, Any] = {
        "generation": generation,
        "payload": presenter.event_payload(generation),
        "style": STYLE_BY_SLUG.get(generation.style),
        "before_url": f"/media/rooms/{generation.room_id}/photo/" if generation.room_id else "",
        # Once the model has the job, cancelling would throw away a result already paid for (finish.cancel).
        "rendering": generation.stage in RENDERING_STAGES,
    }
    return render(request, "web/generation_detail.html", context)


@login_required
@require_POST
def generation_cancel(request: AuthenticatedRequest, pk: str) -> HttpResponse:
    """The form fallback of the page's Cancel button (which calls the API when scripts run)."""
    generation = owned_generation(request, pk)
    try:
        spend_work(request.user)
        if finish.cancel(generation):
            messages.info(request, "Generation cancelled; you were not charged.")
    except ApiError as exc:
        messages.info(request, exc.message)
    return redirect("generation-detail", pk=pk)


@login_required
@require_POST
def generation_again(request: AuthenticatedRequest, pk: str) -> HttpResponse:
    """A new variant of the same request: same room, style and options, a fresh image."""
    previous = owned_generation(request, pk)
    try:
        spend_work(request.user)
        generation = services.create_variant(previous, request_id=getattr(request, "request_id", ""))
    except ApiError as exc:
        messages.error(request, exc.message)
        return redirect("generation-detail", pk=pk)
    return redirect("generation-detail", pk=generation.pk)


@login_required
@require_POST
def generation_delete(request: AuthenticatedRequest, pk: str) -> HttpResponse:
    generation = owned_generation(request, pk)
    try:
        privacy.delete_generation(generation)
    except ApiError as exc:
        messages.error(request, exc.message)
        return redirect("generation-detail", pk=pk)
    messages.success(request, "The design and its images were deleted.")
    return redirect("history")


# Account -------------------------------------------------------------------------------------------------


@login_required
def account(request: AuthenticatedRequest) -> HttpResponse:
    return render(request, "web/account.html")


@login_required
@require_POST
def account_delete(request: AuthenticatedRequest) -> HttpResponse:
    """Delete the account once the password is given again: every file and row of the user goes."""
    if not request.user.check_password(request.POST.get("password", "")):
        return render(request, "web/account.html", {"error": "That is not your password."}, status=400)
    erased = privacy.close_account(request.user)
    logout(request)
    if erased:
        messages.success(request, "Your account and all your data were deleted.")
    else:
        messages.success(request, "Your account is closed; its data is erased as soon as its last redesign ends.")
    return redirect("login")


@login_required
def history(request: AuthenticatedRequest) -> HttpResponse:
    show = request.GET.get("show", "")
    generations = Generation.objects.filter(owner=request.user).select_related("room")
    if show in HISTORY_FILTERS:
        generations = generations.filter(status__in=HISTORY_FILTERS[show])
    page = Paginator(generations, 24).get_page(request.GET.get("page"))
    return render(request, "web/history.html", {"page": page, "show": show})
