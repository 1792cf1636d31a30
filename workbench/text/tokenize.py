"""Tokenization for mixed-script text: CJK characters one token each, other scripts by whitespace."""

from __future__ import annotations

import re

# CJK Unified Ideographs (+ extension A, compatibility), kana and Hangul syllables: one token each.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af"
_CJK_CHAR = re.compile(f"[{_CJK}]")
_MIXED = re.compile(f"[{_CJK}]|[^\\s{_CJK}]+")


def is_cjk(char: str) -> bool:
    return bool(_CJK_CHAR.fullmatch(char))


def mixed_tokens(text: str) -> list[str]:
    """Tokens for MER: "开meeting讨论" -> ["开", "meeting", "讨", "论"]."""
    return _MIXED.findall(text)


