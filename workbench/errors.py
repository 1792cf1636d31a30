"""The one error family: every input or state a user can fix raises a ``WorkbenchError``.

The CLI catches ``WorkbenchError`` only: it prints ``workbench <stage>: <message>`` on one line
and exits 2. The message names the file (and line and field where there is one) and, where it
helps, what to do. Anything else is a bug and keeps its traceback.

Subclasses also derive from the built-in class the error used to be (``ValueError``,
``RuntimeError``, ``FileNotFoundError``), so ``except ValueError`` around library calls keeps
working. Domain modules re-export the class they raise (``workbench.data.ManifestError``).
"""

from __future__ import annotations

from pathlib import Path


class WorkbenchError(Exception):
    """Bad input or state the user can fix; the message is one line naming file/line/field."""


class ConfigError(WorkbenchError, ValueError):
    """A params.yaml section, ``--set`` override, experiment YAML or command-line choice is invalid."""


class ManifestError(WorkbenchError, ValueError):
    """A manifest line is invalid; the message names file, line and field."""

    def __init__(self, path: Path | str, line: int | None, field_name: str | None, problem: str):
        where = f"{path}" + (f":{line}" if line is not None else "")
        what = f" field '{field_name}'" if field_name else ""
        super().__init__(f"{where}:{what} {problem}")
        self.path, self.line, self.field, self.problem = str(path), line, field_name, problem


class InputError(WorkbenchError, ValueError):
    """An input file that is readable but unusable: empty, not JSON, lacking what the stage needs."""


class MissingInputError(WorkbenchError, FileNotFoundError):
    """An input path that does not exist."""

    def __init__(self, path: Path | str, what: str = "input"):
        super().__init__(f"{path}: {what} not found")
        self.filename = str(path)

    def __str__(self) -> str:  # OSError's own would print "[Errno None] None: '<path>'"
        return self.args[0]


class AudioError(WorkbenchError, ValueError):
    """Audio that cannot be used: unreadable, wrong rate or channel count."""


class VocabularyError(WorkbenchError, ValueError):
    """A hotword list or vocabulary request that cannot be used; the message names the input."""


class CheckpointError(WorkbenchError, ValueError):
    """A checkpoint that cannot be resumed from (truncated, not a checkpoint, another model's);
    the message names the file and says to delete it."""


class TrackingStoreError(WorkbenchError, RuntimeError):
    """The tracking store cannot be read (server down, wrong URI, not an MLflow database)."""


class AssetError(WorkbenchError, RuntimeError):
    """A weight package is missing or its content is not what we expect."""


class TTSError(WorkbenchError, RuntimeError):
    """A TTS engine is unavailable or failed on a text."""


class LLMError(WorkbenchError, RuntimeError):
    """An LLM backend call failed; the message starts with the kind ("timeout", "http 500", ...)."""
