"""Prompts reduced to what decides the picture, and the cache keys built from them.

Sentence embeddings barely see the words that change a picture most ("light oak floors" and "dark oak
floors" score 0.92), so two prompts are only ever compared by meaning when they name the same colours,
materials, sizes, negations, numbers and positions, bound to the same objects (see `comparable`).
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass

KEY_VERSION = "v1"  # bump when the canonical form changes: old entries then simply stop matching


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS = _words(
    """a an the of in on at to for by from into onto as is are be being it its this that these those there
    and or with please make made give want would like i we you my our your me us also just very really quite
    some style styled look looking feel vibe room interior design space inspired"""
)
# Words that change the picture: a prompt pair differing in one of these is never "the same request".
ATTRIBUTES = _words(
    """white black gray silver gold golden red crimson burgundy maroon pink blush coral orange terracotta rust
    peach yellow mustard ochre green sage olive emerald mint teal turquoise aqua blue navy cobalt indigo
    purple violet lavender lilac plum brown tan beige cream ivory taupe khaki charcoal sand camel chocolate
    neutral monochrome pastel colorful vibrant muted earthy jewel
    light dark pale deep bright dim warm cool cold soft bold rich vivid saturated matte glossy gloss satin
    polished brushed natural bleached whitewashed painted stained raw distressed weathered lacquered airy
    moody sunny sunlit candlelit neon
    oak walnut pine ash maple teak cherry birch beech mahogany cedar bamboo rattan wicker cane jute sisal
    seagrass wood marble granite quartz terrazzo travertine limestone slate stone concrete cement brick plaster
    ceramic porcelain glass metal steel iron aluminum chrome nickel brass copper bronze leather velvet linen
    cotton wool silk boucle suede tweed felt macrame laminate vinyl acrylic resin plastic mirrored upholstered
    tiled shiplap herringbone chevron
    striped floral geometric checkered plaid patterned plain solid textured abstract polka damask paisley
    ikat tartan
    modern contemporary minimalist minimal scandinavian nordic industrial bohemian boho rustic farmhouse
    traditional classic vintage retro antique coastal mediterranean japandi japanese zen deco luxurious
    luxury cozy elegant glam eclectic maximalist cottage tropical mid century colonial victorian gothic
    futuristic urban organic playful formal casual calm serene cheerful dramatic
    small large tiny huge oversized compact tall short low high wide narrow long round square rectangular
    oval curved circular slim thick thin chunky king queen twin single double full open closed floating
    no not without none never nothing neither nor don dont doesn isn aren won shouldn avoid skip exclude
    excluding minus rid out away remove removed removing delete replace replaced swap more less fewer many few
    several extra only all every both except instead empty sparse busy cluttered uncluttered half off
    slightly somewhat much extremely barely mostly partly partially entirely fully completely
    left right center middle above below under behind front back top bottom side opposite near beside between
    inside outside upstairs downstairs"""
)
# What attributes attach to: "white walls, black sofa" and "black walls, white sofa" are different rooms.
OBJECTS = _words(
    """wall floor ceiling sofa chair armchair stool bench ottoman pouf table desk bed headboard bedding duvet
    pillow cushion throw blanket rug carpet curtain blind shutter lamp lighting chandelier pendant sconce
    fixture bulb cabinet cabinetry cupboard counter countertop island backsplash tile shelf shelving bookshelf
    bookcase sideboard credenza console dresser wardrobe closet nightstand vanity mirror sink faucet bathtub
    bath shower toilet window door frame trim molding baseboard beam fireplace mantel stair staircase railing
    art artwork painting print poster plant tree flower vase basket accent accessory decor furniture
    upholstery television screen clock hardware handle knob panel paneling wallpaper crib bunk"""
)
SYNONYMS = {
    "grey": "gray",
    "colour": "color",
    "colours": "color",
    "colourful": "colorful",
    "cosy": "cozy",
    "couch": "sofa",
    "settee": "sofa",
    "big": "large",
    "lots": "many",
    "lot": "many",
    "plenty": "many",
    "numerous": "many",
    "flooring": "floor",
    "floorboard": "floor",
    "wooden": "wood",
    "timber": "wood",
    "tv": "television",
    "drape": "curtain",
    "drapery": "curtain",
    "shelves": "shelf",
    "shelve": "shelf",
    "centre": "center",
    "worktop": "countertop",
    "splashback": "backsplash",
    "moulding": "molding",
    "tub": "bathtub",
    "faucets": "faucet",
    "tap": "faucet",
    "taps": "faucet",
    "minimal": "minimalist",
    "boho": "bohemian",
}
NUMBER_WORDS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
)
NUMBERS = {word: str(value) for value, word in enumerate(NUMBER_WORDS)} | {"dozen": "12", "pair": "2", "couple": "2"}
CLAUSE_BREAK = re.compile(r"[,;.:!?&/+\n]+|\b(?:and|with|plus|but|while|then)\b")
TOKEN = re.compile(r"[^\W_]+")


def stem(token: str) -> str:
    """Fold plurals so "cushions" and "cushion" are the same word (deliberately crude and predictable)."""
    if len(token) <= 3 or token.isdigit():
        return token
    if token.endswith("ies") and len(token) > 4:
        return token[:-3] + "y"
    if token.endswith(("sses", "shes", "ches", "xes", "zes")):
        return token[:-2]
    if token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def normal(token: str) -> str:
    token = SYNONYMS.get(token, token)
    token = NUMBERS.get(token, token)
    return SYNONYMS.get(stem(token), stem(token))


@dataclass(frozen=True)
class PromptForm:
    """A prompt reduced to what decides the picture: its words, and which attribute goes on which object."""

    tokens: frozenset[str]
    bindings: frozenset[str]

    @property
    def canonical(self) -> str:
        return " ".join(sorted(self.tokens)) + " | " + " ".join(sorted(self.bindings))

    @property
    def guard(self) -> frozenset[str]:
        """What two prompts must share to be compared by meaning at all: bound attributes and objects."""
        return self.bindings | (self.tokens & OBJECTS)


def is_attribute(token: str) -> bool:
    return token in ATTRIBUTES or token.isdigit() or bool(degree_of(token))


def degree_of(token: str) -> str:
    """The attribute behind "darker", "brightest", "bigger", "cozier", "greenish", or ""."""
    for suffix in ("est", "er", "ish"):
        base = token[: -len(suffix)]
        if not token.endswith(suffix) or len(base) < 2:
            continue
        undoubled = base[:-1] if base[-1] == base[-2] else base
        for guess in (base, base + "e", undoubled, base[:-1] + "y" if base.endswith("i") else base):
            if SYNONYMS.get(guess, guess) in ATTRIBUTES:
                return SYNONYMS.get(guess, guess)
    return ""


def bind(clause: list[str]) -> set[str]:
    """Attach each attribute to the next object in its clause, else the previous one ("walls in white")."""
    heads = [index for index, token in enumerate(clause) if token in OBJECTS]
    bound = set()
    for index, token in enumerate(clause):
        if not is_attribute(token):
            continue
        after = [h for h in heads if h > index]
        before = [h for h in heads if h < index]
        head = clause[after[0]] if after else clause[before[-1]] if before else ""
        bound.add(f"{token}>{head}")
    return bound


@functools.lru_cache(maxsize=4096)
def form(prompt: str) -> PromptForm:
    """Lowercase, split on non-alphanumerics and clause breaks, fold synonyms and plurals, drop filler."""
    text = unicodedata.normalize("NFKC", prompt).lower()
    tokens: set[str] = set()
    bindings: set[str] = set()
    for part in CLAUSE_BREAK.split(text):
        clause = [word for word in (normal(raw) for raw in TOKEN.findall(part)) if word not in STOPWORDS]
        tokens.update(clause)
        bindings |= bind(clause)
    return PromptForm(frozenset(tokens), frozenset(bindings))


def canonical(prompt: str) -> str:
    return form(prompt).canonical


def plain(prompt: str) -> str:
    """The words in their order, without case or punctuation: what the sentence model reads."""
    return " ".join(TOKEN.findall(unicodedata.normalize("NFKC", prompt).lower()))


def comparable(a: str, b: str) -> bool:
    """Whether two prompts may be compared by meaning: same attributes on the same objects, neither empty."""
    first, second = form(a), form(b)
    return bool(first.tokens and second.tokens) and first.guard == second.guard


def digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).hexdigest()


def scope_of(
    photo_sha256: str, style: str, room_type: str, model: str, size: str, quality: str, n: int, variant: int
) -> str:
    """Every input of a generation but the prompt."""
    return digest(KEY_VERSION, photo_sha256, style, room_type, model, size, quality, n, variant)


def key_of(scope: str, prompt: str) -> str:
    return digest(scope, canonical(prompt))
