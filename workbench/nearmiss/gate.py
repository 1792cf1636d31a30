"""The tri-level filtering gate of seed 003 §3.3 (Eq. 3–6), each level switchable.

For a near-miss ``y~`` of reference ``y`` that replaces POI segment ``p`` by ``p~``:

- acoustic: ``margin = s(y) - s(y~)`` with ``s`` the seed model's length-normalized
  teacher-forced log-probability (Eq. 9); kept when ``margin <= max_acoustic_margin`` (the audio
  does not clearly rule the near-miss out; a negative margin means the model prefers it);
- text: ``d_text(p~, p)``, normalized character Levenshtein of the normalized segments; kept when
  ``>= min_text_distance`` (hard enough: a real surface change, not a spelling variant);
- phoneme: ``d_ph(p~, p)``, normalized Levenshtein over G2P units (pinyin TONE3, ARPAbet,
  Vietnamese syllable parts); kept when ``<= max_phoneme_distance`` (it sounds alike). A
  segment in Chinese characters against one in Latin letters has no shared unit inventory: it
  is compared as toneless pinyin letters against the Latin letters ("米听" ~ "miting" vs
  "meeting"), the confusion Whisper makes when it transliterates an English word.

Every candidate gets all three measurements, so each row of seed 003 Table 3 (no filter,
acoustic only, +phoneme, +text, all three) is a ``GateConfig`` over the same pool. A candidate
equal to the reference after normalization is never a negative, whatever the gates.
"""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from workbench.text.tokenize import is_cjk


@dataclass(frozen=True)
class GateConfig:
    acoustic: bool = True  # Eq. 3: acoustic plausibility under the seed model
    phoneme: bool = True  # Eq. 6, right: phonetic proximity of the POI segments
    text: bool = True  # Eq. 6, left: sufficient surface deviation of the POI segments
    max_acoustic_margin: float = 0.5  # s(ref) - s(near-miss), nats per token
    min_text_distance: float = 0.2
    max_phoneme_distance: float = 0.6

    def __post_init__(self) -> None:
        for name in ("min_text_distance", "max_phoneme_distance"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"gate.{name} must be in [0, 1], got {value}")

    def with_levels(self, acoustic: bool, phoneme: bool, text: bool) -> GateConfig:
        return GateConfig(acoustic, phoneme, text, self.max_acoustic_margin, self.min_text_distance,
                          self.max_phoneme_distance)


# seed 003 Table 3, lower block: the gating strategies compared
TABLE3_GATES: dict[str, tuple[bool, bool, bool]] = {
    "none": (False, False, False),
    "acoustic": (True, False, False),
    "acoustic+phoneme": (True, True, False),
    "acoustic+text": (True, False, True),
    "acoustic+phoneme+text": (True, True, True),
}


@dataclass(frozen=True)
class Measurements:
    acoustic_margin: float
    text_dist: float
    phone_dist: float


def decide(measured: Measurements, config: GateConfig) -> tuple[bool, str]:
    """(kept, reason): "kept", or every failed level with its value and threshold."""
    failed = []
    if config.acoustic and not measured.acoustic_margin <= config.max_acoustic_margin:
        failed.append(f"acoustic_margin {measured.acoustic_margin:.3f} > {config.max_acoustic_margin}")
    if config.text and not measured.text_dist >= config.min_text_distance:
        failed.append(f"text_dist {measured.text_dist:.3f} < {config.min_text_distance}")
    if config.phoneme and not measured.phone_dist <= config.max_phoneme_distance:
        failed.append(f"phone_dist {measured.phone_dist:.3f} > {config.max_phoneme_distance}")
    return (not failed, "; ".join(failed) or "kept")


def _has_cjk(text: str) -> bool:
    return any(is_cjk(c) for c in text)


def cross_script_distance(a: str, b: str) -> float | None:
    """Toneless-pinyin letters vs Latin letters when exactly one side is in Chinese characters."""
    if _has_cjk(a) == _has_cjk(b):
        return None
    from pypinyin import lazy_pinyin

    def letters(text: str) -> str:
        romanized = "".join(lazy_pinyin(text)) if _has_cjk(text) else text
        return "".join(c for c in romanized.lower() if c.isalpha())

    return Levenshtein.normalized_distance(letters(a), letters(b))
