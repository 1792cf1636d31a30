"""Text features shared by NeedRescore and the Rescorer: length, numbers, keywords, repetition, scripts.

Keywords are matched the way the KER metric matches them (``workbench.metrics.keywords``):
normalized mixed tokens (a CJK character one token, other scripts by whitespace), contiguous,
so "a keyword hit" means the same thing to the trigger, the rescorer and the proper-noun hit rate.
Numbers are read before normalization, which would split "3,000" and drop "%" and "$".
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

from workbench.metrics.keywords import count_occurrences
from workbench.text import build_normalizer, is_cjk, mixed_tokens

_NORMALIZE = build_normalizer()  # the metrics' default chain: width, simplified, whisper_basic, punctuation, spaces

# digits, money, percent; Chinese numerals before a unit/time/date word (a lone 一 is left out: 一下, 一点 "a bit");
# English number words from two on ("one" is mostly a pronoun)
_CN_NUMERAL = "零一二两三四五六七八九十百千万亿"
_NUMBER_RISK = re.compile(
    r"\d|[$€£¥₫%‰]|百分之"
    rf"|(?:[二两三四五六七八九十百千万亿]|一[{_CN_NUMERAL}])[{_CN_NUMERAL}]*"
    r"(?:点钟|点|小时|时|分钟|分|秒|号|日|月|年|岁|元|块|毛|角|度|米|公里|公斤|斤|倍|折|个月)"
    r"|\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen"
    r"|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand"
    r"|million|billion|percent|dollars?|euros?|o'clock)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+")
_UNIT = re.compile(r"[%‰$€£¥₫]")
FILLERS = frozenset(
    "嗯 啊 呃 哦 额 唉 哎 噢 喔 嘛 呀 uh um umm uhm hmm hm mm mhm oh ah er erm eh ừ ờ à".split()
)

# script of a letter, by code point; anything else alphabetic is "other"
_SCRIPT_RANGES = (
    ("han", 0x3400, 0x4DBF), ("han", 0x4E00, 0x9FFF), ("han", 0xF900, 0xFAFF), ("kana", 0x3040, 0x30FF),
    ("hangul", 0xAC00, 0xD7AF), ("hangul", 0x1100, 0x11FF), ("hangul", 0x3130, 0x318F),
    ("latin", 0x0041, 0x024F), ("latin", 0x1E00, 0x1EFF), ("greek", 0x0370, 0x03FF), ("cyrillic", 0x0400, 0x04FF),
    ("hebrew", 0x0590, 0x05FF), ("arabic", 0x0600, 0x06FF), ("devanagari", 0x0900, 0x097F), ("thai", 0x0E00, 0x0E7F),
)
# the matrix script each language is written in; Latin is always plausible too (§4.3: Latin terms stay as they are)
LANGUAGE_SCRIPTS = {
    "zh": ("han",), "yue": ("han",), "cmn": ("han",), "ja": ("han", "kana"), "ko": ("hangul",),
    "ru": ("cyrillic",), "uk": ("cyrillic",), "bg": ("cyrillic",), "sr": ("cyrillic",), "mk": ("cyrillic",),
    "be": ("cyrillic",), "kk": ("cyrillic",), "el": ("greek",), "he": ("hebrew",), "ar": ("arabic",),
    "fa": ("arabic",), "ur": ("arabic",), "hi": ("devanagari",), "mr": ("devanagari",), "ne": ("devanagari",),
    "th": ("thai",),
}


def script_of(char: str) -> str | None:
    """The script of a letter, or None for digits, punctuation and spaces."""
    if not char.isalpha():
        return None
    code = ord(char)
    for name, low, high in _SCRIPT_RANGES:
        if low <= code <= high:
            return name
    return "other"


def expected_scripts(language: str | None) -> tuple[str, ...]:
    """Scripts a hypothesis in ``language`` may use: its own and Latin (None: Latin only)."""
    return (*LANGUAGE_SCRIPTS.get(language or "", ()), "latin")


@dataclass(frozen=True)
class TextFeatures:
    text: str
    tokens: tuple[str, ...]  # normalized mixed tokens (as the metrics tokenize)
    has_cjk: bool
    numbers: tuple[str, ...]  # digit numbers as written, thousands separators removed ("3,000" -> "3000")
    number_risk: bool  # digits, money, percent, Chinese numerals with a unit or time, English number words
    orphan_units: int  # "%" or "$" with no number next to it: a number was likely lost
    repetitions: int  # immediately repeated n-grams: words (n ≥ 1), CJK characters only n ≥ 2 (谢谢 is fine)
    content_tokens: int  # tokens that are not fillers (嗯, uh)
    scripts: tuple[tuple[str, int], ...]  # letters per script

    @property
    def length(self) -> int:
        """Length for the short/long rules: CJK characters plus other words."""
        return len(self.tokens)

    def letters(self, script: str) -> int:
        return dict(self.scripts).get(script, 0)


def _orphan_units(folded: str) -> int:
    """Unit symbols with no digit next to them ("%" reads the number before it, money either side)."""
    count = 0
    for match in _UNIT.finditer(folded):
        before = folded[: match.start()].rstrip()[-1:]
        after = folded[match.end() :].lstrip()[:1]
        neighbours = before if match.group() in "%‰" else before + after
        count += not any(c.isdigit() for c in neighbours)
    return count


def _repetitions(tokens: Sequence[str], max_n: int = 4) -> int:
    count = 0
    for n in range(1, max_n + 1):
        for i in range(len(tokens) - 2 * n + 1):
            if (n > 1 or not is_cjk(tokens[i])) and tokens[i : i + n] == tokens[i + n : i + 2 * n]:
                count += 1
    return count


@functools.lru_cache(maxsize=16384)
def analyse(text: str) -> TextFeatures:
    """Features of a hypothesis (cached: systems and candidates repeat the same texts)."""
    folded = unicodedata.normalize("NFKC", text)
    tokens = tuple(mixed_tokens(_NORMALIZE(text)))
    numbers = tuple(m.group().replace(",", "") if _THOUSANDS.fullmatch(m.group()) else m.group()
                    for m in _NUMBER.finditer(folded))
    scripts: dict[str, int] = {}
    for char in folded:
        script = script_of(char)
        if script is not None:
            scripts[script] = scripts.get(script, 0) + 1
    return TextFeatures(
        text=text, tokens=tokens, has_cjk=any(is_cjk(t) for t in tokens), numbers=numbers,
        number_risk=bool(_NUMBER_RISK.search(folded)), orphan_units=_orphan_units(folded),
        repetitions=_repetitions(tokens), content_tokens=sum(1 for t in tokens if t not in FILLERS),
        scripts=tuple(sorted(scripts.items())),
    )


@functools.lru_cache(maxsize=16384)
def phrase_tokens(phrase: str) -> tuple[str, ...]:
    """A keyword as normalized mixed tokens, as ``analyse`` tokenizes hypotheses."""
    return tuple(mixed_tokens(_NORMALIZE(phrase)))


def keyword_hits(features: TextFeatures, keywords: Iterable[str]) -> tuple[str, ...]:
    """The distinct keywords occurring in the text (normalized, contiguous tokens), in keyword order."""
    hits, seen = [], set()
    for keyword in keywords:
        tokens = phrase_tokens(keyword)
        if tokens and tokens not in seen and count_occurrences(features.tokens, tokens):
            seen.add(tokens)
            hits.append(keyword)
    return tuple(hits)


@functools.lru_cache(maxsize=65536)
def _sound(token: str) -> str:
    """A token as it sounds, roughly: toneless pinyin for a CJK character, the letters otherwise."""
    if is_cjk(token):
        from pypinyin import lazy_pinyin

        return "".join(lazy_pinyin(token))
    return token.replace("'", "")


def keyword_near_misses(features: TextFeatures, keywords: Iterable[str], min_ratio: float) -> tuple[str, ...]:
    """Keywords absent from the text but spelled or sounding alike in a window of it.

    "Pono" for "Ponyo", 章伟 for 张伟 (same pinyin): the symptom seed 004 is about. Windows are the
    keyword's token count ±1, compared by sound (pinyin for CJK) with rapidfuzz's ratio.
    """
    present = set(keyword_hits(features, keywords))
    found = []
    for keyword in keywords:
        tokens = phrase_tokens(keyword)
        if not tokens or keyword in present or keyword in found:
            continue
        target = "".join(_sound(t) for t in tokens)
        n = len(tokens)
        for width in {max(1, n - 1), n, n + 1}:
            if any(
                fuzz.ratio(target, "".join(_sound(t) for t in features.tokens[i : i + width])) >= min_ratio
                for i in range(len(features.tokens) - width + 1)
            ):
                found.append(keyword)
                break
    return tuple(found)
