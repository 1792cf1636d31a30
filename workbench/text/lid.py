"""Token-level language ID that works offline, for POI detection (PIER, near-misses).

- CJK matrix languages (zh, yue, ja): a token is embedded when it contains Latin letters.
- Vietnamese matrix: a token is Vietnamese when it carries Vietnamese letters/tone marks, or when
  its plain-ASCII form is a real Vietnamese syllable: it fits Vietnamese phonotactics (onset +
  1–3 vowels + one of the allowed codas) *and* it occurs as a syllable in underthesea's Viet74K
  word list. Any other alphabetic token is embedded (English). Loanwords that Viet74K lists as
  words ("insulin", "oxygen") fail the phonotactic test, so they count as English, as intended.
  Known limit: English words that are also Vietnamese syllables ("to", "long", "ban") count as
  Vietnamese.
- Tokens with no letters (numbers, punctuation) have no language: ``None``.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import unicodedata
from pathlib import Path

CJK_MATRIX = frozenset({"zh", "yue", "ja", "cmn"})
VIETNAMESE = frozenset({"vi", "vie"})
_LATIN = re.compile(r"[A-Za-z\u00C0-\u024F\u1E00-\u1EFF]")
_VI_LETTERS = set("ăâđêôơưĂÂĐÊÔƠƯ")
_VI_SYLLABLE = re.compile(r"^(ngh|ng|gh|gi|kh|ph|th|tr|ch|nh|qu|[bcdghklmnprstvx])?[aeiouy]{1,3}(ng|nh|ch|[cmnpt])?$")


def strip_tones(token: str) -> str:
    """Vietnamese to plain ASCII letters: "nguyễn" -> "nguyen", "đau" -> "dau"."""
    decomposed = unicodedata.normalize("NFD", token.lower().replace("đ", "d"))
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def viet74k_path() -> Path:
    spec = importlib.util.find_spec("underthesea")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("underthesea is not installed; Vietnamese token LID needs its Viet74K word list")
    return Path(list(spec.submodule_search_locations)[0]) / "corpus" / "data" / "Viet74K.txt"


@functools.lru_cache(maxsize=1)
def vietnamese_syllables() -> frozenset[str]:
    """Tone-stripped syllables of Viet74K that fit Vietnamese phonotactics."""
    syllables = set()
    with open(viet74k_path(), encoding="utf-8") as handle:
        for line in handle:
            for syllable in line.split():
                plain = strip_tones(unicodedata.normalize("NFC", syllable))
                if _VI_SYLLABLE.match(plain):
                    syllables.add(plain)
    return frozenset(syllables)


def has_vietnamese_marks(token: str) -> bool:
    if any(c in _VI_LETTERS for c in token):
        return True
    decomposed = unicodedata.normalize("NFD", token)
    return any(unicodedata.category(c) == "Mn" for c in decomposed) and bool(_LATIN.search(token))


def token_language(token: str, matrix_language: str, embedded_language: str = "en") -> str | None:
    """The language of one token given the utterance's matrix language (None: no letters)."""
    token = "".join(c for c in token if c.isalnum())  # "ngay." -> "ngay", "x-ray" -> "xray"
    if not any(c.isalpha() for c in token):
        return None
    if matrix_language in CJK_MATRIX:
        return embedded_language if _LATIN.search(token) else matrix_language
    if matrix_language in VIETNAMESE:
        if has_vietnamese_marks(token):
            return matrix_language
        plain = strip_tones(token)
        if _VI_SYLLABLE.match(plain) and plain in vietnamese_syllables():
            return matrix_language
        return embedded_language
    raise ValueError(f"no token-level language ID rule for matrix language {matrix_language!r} (known: zh, vi)")
