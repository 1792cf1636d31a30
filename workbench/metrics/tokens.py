"""The scorer's tokenizer: ``TextAnalyzer.analyse`` with its per-token work done in C.

Scoring tokenizes two texts per utterance; a Python loop over their words costs as much as
the alignment itself. Here every per-token step is a dict lookup mapped over the tokens
(``map(memo.__getitem__, ...)``), with the normalization of a token not seen before computed by
the memo's ``__missing__`` through ``TextAnalyzer.token``: the normalizer still runs once per
distinct raw token, and words and mixed tokens equal ``TextAnalyzer.analyse``'s exactly.

LID flags follow the definition ``TextAnalyzer.lid_flags`` documents (each mixed token takes the
flag of its raw token). Its cached shortcut departs from it when one whitespace word holds a raw
token that normalizes to no token and another that normalizes to several ("・e-mail": the flags of
"・" and "e-mail" land on "e" and "mail"); this tokenizer keeps to the definition.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import chain

from workbench.text.poi import _RAW_TOKEN, TextAnalyzer
from workbench.text.tokenize import _CJK_CHAR

# the raw tokens of ``workbench.text.poi`` and the whitespace runs between them: normalized words
# are per whitespace word, so a text's pieces keep its word boundaries
_PIECE = re.compile(r"\s+|" + _RAW_TOKEN.pattern)


class _Memo(dict):
    """A dict that computes missing values, so ``map(memo.__getitem__, keys)`` runs in C."""

    _MAX = 1_000_000  # past this many entries, compute without storing (bounded memory)

    def __init__(self, compute: Callable):
        super().__init__()
        self.compute = compute

    def __missing__(self, key):
        value = self.compute(key)
        if len(self) < self._MAX:
            self[key] = value
        return value


class ScoringTokenizer:
    """Normalized words (WER), mixed tokens (MER, PIER, B-WER) and LID flags of a text."""

    def __init__(self, analyzer: TextAnalyzer):
        self.analyzer = analyzer
        token = analyzer.token
        # per piece (raw token or whitespace run): the one token it normalizes to, which is then
        # both its normalized text and its only mixed token; " " for whitespace; "" otherwise
        # ("x-ray" -> "x ray", "..." -> ""; no token is empty, and "" in a list of strings is
        # a faster test than None)
        self._plain = _Memo(self._plain_piece)
        self._normalized = _Memo(lambda piece: " " if piece.isspace() else token(piece)[0])
        self._mixed = _Memo(lambda piece: () if piece.isspace() else token(piece)[1])
        self._flags: dict[tuple[str, str], _Memo] = {}

    def _plain_piece(self, piece: str) -> str:
        if piece.isspace():
            return " "
        normalized, mixed = self.analyzer.token(piece)
        return normalized if len(mixed) == 1 and normalized == mixed[0] else ""

    def tokens(self, text: str, languages: tuple[str, str] | None = None) -> tuple[list[str], list[str], bytes | None]:
        """(words, mixed tokens) equal to ``TextAnalyzer.analyse(text)``'s (one list when they are
        equal), and with ``languages`` = (matrix, embedded) the LID flag of each mixed token as bytes."""
        if text.isascii() or not _CJK_CHAR.search(text):  # isascii reads a flag: no scan for most texts
            pieces, joiner = text.split(), " "  # without CJK, every whitespace word is one raw token
        else:
            pieces, joiner = _PIECE.findall(text), ""  # raw tokens and the whitespace runs between them
        plain = list(map(self._plain.__getitem__, pieces))
        if "" not in plain:  # every raw token normalizes to one token (the usual case)
            if joiner:
                words = mixed = plain
            elif " " in plain:
                words, mixed = "".join(plain).split(), list(filter(" ".__ne__, plain))
            else:  # CJK text without whitespace: one word
                words, mixed = ["".join(plain)], plain
        else:
            words = joiner.join(map(self._normalized.__getitem__, pieces)).split()
            mixed = list(chain.from_iterable(map(self._mixed.__getitem__, pieces)))
        if languages is None:
            return words, mixed, None
        flag = self._language_memo(languages)
        if mixed is plain:  # one mixed token per piece
            return words, mixed, bytes(map(flag.__getitem__, pieces))
        return words, mixed, bytes([flag[piece] for piece in pieces for _token in self._mixed[piece]])

    def _language_memo(self, languages: tuple[str, str]) -> _Memo:
        """Per raw token: 1 if it is in the embedded language (``TextAnalyzer.embedded_flags``), else 0."""
        memo = self._flags.get(languages)
        if memo is None:
            embedded_flags = self.analyzer.embedded_flags
            memo = self._flags[languages] = _Memo(lambda piece: int(embedded_flags([piece], *languages)[0]))
        return memo
