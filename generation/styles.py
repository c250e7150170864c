"""The styles and room types on offer, and how they become a prompt."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from billing.qualities import QUALITIES


@dataclass(frozen=True)
class Style:
    slug: str
    name: str
    description: str
    prompt: str
    swatch: tuple[str, str, str]


STYLES: tuple[Style, ...] = (
    Style(
        "modern",
        "Modern",
        "Clean lines, neutral palette, statement lighting.",
        "modern interior, clean lines, neutral palette, sleek furniture, statement lighting",
        ("#e8e6e1", "#2f3437", "#c9a66b"),
    ),
    Style(
        "scandinavian",
        "Scandinavian",
        "Light oak, white walls, soft textiles, hygge.",
        "scandinavian interior, light oak wood, white walls, soft wool textiles, plants, natural light",
        ("#f4f1ea", "#d8c3a5", "#8e9aaf"),
    ),
    Style(
        "minimalist",
        "Minimalist",
        "Fewer, better things; calm and uncluttered.",
        "minimalist interior, uncluttered, calm, hidden storage, monochrome, few carefully chosen pieces",
        ("#fafafa", "#d9d9d9", "#3a3a3a"),
    ),
    Style(
        "industrial",
        "Industrial",
        "Exposed brick, black steel, reclaimed wood.",
        "industrial loft interior, exposed brick, black steel, reclaimed wood, edison bulbs, concrete floor",
        ("#7b4b3a", "#3b3b3b", "#b08d57"),
    ),
    Style(
        "bohemian",
        "Bohemian",
        "Layered rugs, rattan, warm colour and plants.",
        "bohemian interior, layered patterned rugs, rattan, macrame, warm terracotta colours, many plants",
        ("#c8553d", "#f2d0a4", "#588b8b"),
    ),
    Style(
        "mid_century",
        "Mid-century modern",
        "Walnut, tapered legs, mustard and teal.",
        "mid-century modern interior, walnut furniture with tapered legs, mustard and teal accents, globe lamps",
        ("#8d5524", "#e0a526", "#2a7f8f"),
    ),
    Style(
        "japandi",
        "Japandi",
        "Japanese calm meets Nordic warmth.",
        "japandi interior, low furniture, light ash and dark wood, paper lamps, muted earthy tones, wabi-sabi",
        ("#e7dccb", "#6b5b4b", "#a3a380"),
    ),
    Style(
        "coastal",
        "Coastal",
        "Airy whites, sandy tones, ocean blues.",
        "coastal interior, airy white walls, sandy beige, ocean blue accents, linen, woven textures",
        ("#ffffff", "#e4d6b6", "#5b8fb9"),
    ),
    Style(
        "art_deco",
        "Art Deco",
        "Velvet, brass, bold geometry.",
        "art deco interior, velvet upholstery, brass details, bold geometric patterns, rich emerald and gold",
        ("#0f5132", "#c9a227", "#1c1c1c"),
    ),
    Style(
        "farmhouse",
        "Modern farmhouse",
        "Shiplap, warm wood, black hardware.",
        "modern farmhouse interior, shiplap walls, warm wood beams, black hardware, cosy neutral textiles",
        ("#f5f0e6", "#a47551", "#2b2b2b"),
    ),
)

ROOM_TYPES: tuple[tuple[str, str], ...] = (
    ("living_room", "Living room"),
    ("bedroom", "Bedroom"),
    ("kitchen", "Kitchen"),
    ("bathroom", "Bathroom"),
    ("dining_room", "Dining room"),
    ("office", "Home office"),
    ("kids_room", "Kids' room"),
    ("hallway", "Hallway"),
)

STYLE_BY_SLUG = {style.slug: style for style in STYLES}
ROOM_TYPE_NAMES = dict(ROOM_TYPES)
PROMPT_MAX_CHARS = 500


def build_prompt(style_slug: str, room_type: str, extra: str) -> str:
    """The instruction sent to the image model for this room, style and the user's own words."""
    style = STYLE_BY_SLUG[style_slug]
    room = ROOM_TYPE_NAMES.get(room_type, "room").lower()
    prompt = (
        f"Redesign this {room} as a {style.prompt}. Keep the room's architecture, walls, windows, doors and "
        "camera angle exactly as in the photo; change furniture, materials, colours, decor and lighting. "
        "Photorealistic interior photograph."
    )
    return f"{prompt} {extra.strip()}" if extra.strip() else prompt


def catalogue() -> dict[str, object]:
    return {
        "styles": [{**asdict(style), "swatch": list(style.swatch)} for style in STYLES],
        "room_types": [{"slug": slug, "name": name} for slug, name in ROOM_TYPES],
        "qualities": list(QUALITIES),
    }
