"""Forms of the signed-out pages and the generation form."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import UserCreationForm

from billing.qualities import QUALITIES
from generation.styles import PROMPT_MAX_CHARS, ROOM_TYPES, STYLES


class SignupForm(UserCreationForm):
    email = forms.EmailField(required=False, help_text="Optional; only for receipts and password resets.")

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")

    def __init__(self, *args: Any, require_email: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if require_email:
            self.fields["email"].required = True
            self.fields["email"].help_text = "We send a link there: follow it to start redesigning."
        self.fields["username"].help_text = "Letters, digits and @ . + - _ only."
        self.fields["password1"].help_text = "At least 8 characters, not too common, not only digits."


class GenerationForm(forms.Form):
    style = forms.ChoiceField(
        choices=[(style.slug, style.name) for style in STYLES],
        error_messages={
            "required": "Pick a style.",
            "invalid_choice": "Pick one of the styles shown.",
        },
    )
    room_type = forms.ChoiceField(choices=ROOM_TYPES)
    quality = forms.ChoiceField(choices=[(quality, quality) for quality in QUALITIES], initial="medium")
    n = forms.TypedChoiceField(choices=[(n, n) for n in range(1, 5)], coerce=int, initial=1, required=False)
    prompt = forms.CharField(max_length=PROMPT_MAX_CHARS, required=False, strip=True)
    # Offered when we are at capacity: wait behind every other job (hours) instead of being turned away.
    accept_slow = forms.BooleanField(required=False)
    notify_email = forms.BooleanField(required=False)
