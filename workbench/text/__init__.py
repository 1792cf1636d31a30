"""Text normalization and mixed-script tokenization. Imports nothing else of the package."""

from workbench.text.normalize import NORMALIZERS, Normalizer, build_normalizer
from workbench.text.tokenize import is_cjk, mixed_tokens

__all__ = ["NORMALIZERS", "Normalizer", "build_normalizer", "is_cjk", "mixed_tokens"]
