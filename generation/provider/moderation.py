"""The provider's moderation check of a free-text prompt, through the same OpenAI SDK client as the images."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from generation.provider.openai_images import client_for

# The moderation categories in the words the product shows people.
PLAIN_WORDS = {
    "hate": "hateful content",
    "hate/threatening": "threats against a group",
    "harassment": "harassment",
    "harassment/threatening": "threats",
    "illicit": "wrongdoing",
    "illicit/violent": "weapons or violent wrongdoing",
    "self-harm": "self-harm",
    "self-harm/intent": "self-harm",
    "self-harm/instructions": "self-harm",
    "sexual": "sexual content",
    "sexual/minors": "sexual content involving minors",
    "violence": "violence",
    "violence/graphic": "graphic violence",
}


@dataclass(frozen=True)
class Verdict:
    flagged: bool
    categories: tuple[str, ...] = ()

    def in_words(self) -> str:
        """What the flagged categories are about, e.g. `violence and sexual content`."""
        words = list(dict.fromkeys(PLAIN_WORDS.get(name, name.replace("/", " ")) for name in self.categories))
        if not words:
            return "content our image service does not allow"
        return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def moderation_base_url() -> str | None:
    """OpenAI's endpoint (or OPENAI_BASE_URL) with a key; the local sandbox without one."""
    if settings.OPENAI_BASE_URL or settings.OPENAI_API_KEY:
        return settings.OPENAI_BASE_URL or None
    return f"http://127.0.0.1:{settings.SANDBOX_PORT}/v1"


def moderate(text: str) -> Verdict:
    """Classify `text` with `client.moderations.create`; raises the SDK's exceptions when the check cannot run."""
    client = client_for(moderation_base_url(), settings.MODERATION_TIMEOUT_S)
    answer = client.moderations.create(input=text, model=settings.OPENAI_MODERATION_MODEL)
    flagged = [item for item in answer.results if item.flagged]
    if not flagged:
        return Verdict(False)
    names = [name for item in flagged for name, hit in item.categories.model_dump(by_alias=True).items() if hit]
    return Verdict(True, tuple(dict.fromkeys(names)))
