"""What a public output (Open311, the anonymous tracking page, any endpoint without sign-in) may say
about where something is: "where", never "whose door".

- coordinates are rounded to 3 decimals (about 100 m);
- addresses keep the district, street, road and community and drop the house number and everything
  after it — building, entrance, unit, floor, room (``…12号3栋2单元501室`` → ``…``); in Latin-script
  addresses every word holding a digit goes (``12 Main Road, Flat 3`` → ``Main Road``).

docs/api-validation.md states the rule; tests/core/test_public.py pins it with examples.
"""

from __future__ import annotations

import re

COORD_DECIMALS = 3

_NUM = r"(?:[0-9０-９]+|[一二三四五六七八九十百千零两〇]+)"
# A number followed by a marker of a door, building, entrance, floor or room: the address ends before it.
_DOOR = re.compile(
    _NUM + r"\s*(?:-\s*" + _NUM + r"\s*)*(?:号楼|号院|号|栋|幢|座|单元|室|楼|层|户|弄|门|附)"
    r"|[0-9０-９]+\s*[-－#＃]"
    r"|[#＃]\s*[0-9０-９]"
)
_DIGIT_WORD = re.compile(r"[^\s,，、]*[0-9０-９][^\s,，、]*")
_ROOM_WORDS = re.compile(
    r"\b(?:flat|room|unit|apt|apartment|suite|floor|building|bldg|block|no\.?)\b", re.IGNORECASE
)
_TRAIL = re.compile(r"[\s,，、;；:：.。\-－#＃()（）]+$")
_SPACES = re.compile(r"\s{2,}")


def coarse_address(address: str | None) -> str | None:
    """The address as the public may see it (rule above); None when nothing public is left."""
    if not address:
        return None
    text = address.strip()
    door = _DOOR.search(text)
    if door is not None:
        text = text[: door.start()]
    text = _ROOM_WORDS.sub(" ", _DIGIT_WORD.sub(" ", text))
    text = _SPACES.sub(" ", text)
    text = re.sub(r"\s*([,，、])\s*(?=[,，、]|$)", "", text)
    text = _TRAIL.sub("", text).strip(" ,，、")
    return text or None


def coarse_coordinate(value: float | None) -> float | None:
    return round(value, COORD_DECIMALS) if value is not None else None
