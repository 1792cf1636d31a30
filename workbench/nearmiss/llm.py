"""LLM-proposed replacements for one POI span: a candidate source for near-miss negatives.

CS-NMG (seed 003 §3.1/§5.1) asks an LLM, offline, for strings an ASR could plausibly output in
place of a point of interest (an embedded-language span of a code-switched reference). The
prompt shows the reference with the POI marked ``[[like this]]`` and the raw N-best POI
candidates, and asks for a JSON list of replacement strings only: the LLM never rewrites the
rest of the sentence, so every proposal is a single-span edit that a later gate can check.

Responses are cached on disk, keyed by everything that determines them (backend identity,
messages, sampling settings, seed), so a rerun of a stage is deterministic and makes no model
or network call. A backend failure (timeout, HTTP error, unparseable output) is recorded on the
proposal instead of raised, and is not cached, so the run continues with the other candidate
sources and a later rerun retries.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from workbench.config.models import LM
from workbench.data.atomic import write_json_atomic
from workbench.errors import ConfigError, LLMError

Messages = Sequence[Mapping[str, str]]

BACKENDS = ("local", "openai", "none")
DEFAULT_MODEL_PATH = LM

# Names used in the prompt; unknown codes are shown as given.
_LANGUAGE_NAMES = {
    "zh": "Mandarin", "cmn": "Mandarin", "en": "English", "eng": "English",
    "vi": "Vietnamese", "vie": "Vietnamese",
}


# --------------------------------------------------------------------------- request and prompt


@dataclass(frozen=True)
class LLMRequest:
    """One POI of one reference: ``reference[poi_start:poi_end]`` is the span to replace."""

    reference: str
    poi_start: int  # character offsets into ``reference``
    poi_end: int
    matrix_language: str  # e.g. "zh"; shown to the model as "Mandarin"
    embedded_language: str  # language of the POI span, e.g. "en"
    nbest_candidates: tuple[str, ...] = ()  # what the ASR's N-best put at this POI (may include the POI)
    max_replacements: int = 5

    def __post_init__(self) -> None:
        if not 0 <= self.poi_start < self.poi_end <= len(self.reference):
            raise ValueError(
                f"POI span [{self.poi_start}, {self.poi_end}) is not a non-empty span of a "
                f"{len(self.reference)}-character reference"
            )
        if not self.reference[self.poi_start : self.poi_end].strip():
            raise ValueError("POI span is blank")
        if self.max_replacements < 1:
            raise ValueError(f"max_replacements must be at least 1, got {self.max_replacements}")
        # Accept any sequence but store a tuple, so requests stay hashable.
        object.__setattr__(self, "nbest_candidates", tuple(self.nbest_candidates))

    @classmethod
    def for_poi(
        cls,
        reference: str,
        poi: str,
        *,
        occurrence: int = 0,
        matrix_language: str,
        embedded_language: str,
        nbest_candidates: Sequence[str] = (),
        max_replacements: int = 5,
    ) -> LLMRequest:
        """The request for the ``occurrence``-th (0-based) occurrence of ``poi`` in ``reference``."""
        start = -1
        for _ in range(occurrence + 1):
            start = reference.find(poi, start + 1)
            if start < 0:
                raise ValueError(f"{poi!r} does not occur {occurrence + 1} time(s) in {reference!r}")
        return cls(reference, start, start + len(poi), matrix_language, embedded_language,
                   tuple(nbest_candidates), max_replacements)

    @property
    def poi(self) -> str:
        return self.reference[self.poi_start : self.poi_end]

    @property
    def marked_reference(self) -> str:
        return f"{self.reference[: self.poi_start]}[[{self.poi}]]{self.reference[self.poi_end :]}"


def language_name(code: str) -> str:
    return _LANGUAGE_NAMES.get(code.lower(), code)


def _user_message(marked_reference: str, poi: str, candidates: Sequence[str], matrix: str, embedded: str,
                  n: int) -> str:
    marked = f"[[{poi}]]"
    unique = list(dict.fromkeys(c.strip() for c in candidates if c.strip()))
    listed = ", ".join(json.dumps(c, ensure_ascii=False) for c in unique) or "(none)"
    return (
        f"Sentence ({matrix} with {embedded}): {marked_reference}\n"
        f"ASR guesses for {marked}: {listed}\n"
        f"List up to {n} other strings a speech recognizer could write instead of {marked}: words or "
        f"spellings that sound similar, in {embedded} or {matrix}. Do not change the rest of the sentence.\n"
        "Reply only with a JSON list of strings."
    )


_SYSTEM = "You suggest speech recognition errors. Reply with a JSON list of strings and nothing else."
# One worked example, in a language pair we do not evaluate: without it SmolLM2-135M answers with
# prose or JSON objects; with it, with a JSON list (tried on a Mandarin- and a Vietnamese-English POI).
_EXAMPLE_USER = _user_message("wir sehen uns am [[Tuesday]]", "Tuesday", ["twos day"], "German", "English", 3)
EXAMPLE_ANSWER = ("choose day", "Tuesdays", "twos day")


def build_prompt(request: LLMRequest) -> list[dict[str, str]]:
    """Chat messages asking for replacements of the marked POI only, as a JSON list of strings.

    System message, one worked example (user + assistant turn), then the request. Kept short
    and plain because the default model has 135M parameters; the N-best candidates show what
    this ASR actually confuses the POI with.
    """
    user = _user_message(
        request.marked_reference, request.poi, request.nbest_candidates,
        language_name(request.matrix_language), language_name(request.embedded_language),
        request.max_replacements,
    )
    return [
        {"role": "system", "content": _SYSTEM},
        {"role": "user", "content": _EXAMPLE_USER},
        {"role": "assistant", "content": json.dumps(list(EXAMPLE_ANSWER))},
        {"role": "user", "content": user},
    ]


# --------------------------------------------------------------------------- parsing

_FENCE = re.compile(r"^\s*```.*$", re.MULTILINE)
_BULLET = re.compile(r"^\s*(?:[-*•·+>]+|\(?\d{1,2}[.)]|\d{1,2}\s*[:：、])\s*")
_SEPARATOR = re.compile(r"[,，、;；]")
_QUOTES = " \t\"'`“”‘’「」『』«»[]"
_TRAILING = " \t,;，；。."
_WORD = re.compile(r"\w")


def _json_strings(text: str) -> list[str] | None:
    """Strings of the first JSON array in ``text`` that holds any (one level of nesting flattened).

    None when the text has no JSON array; ``[]`` when its arrays hold no strings (``[1, 2]``).
    """
    decoder = json.JSONDecoder()
    found = False
    for match in re.finditer(r"\[", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if not isinstance(value, list):
            continue
        found = True
        strings: list[str] = []
        for item in value:
            if isinstance(item, str):
                strings.append(item)
            elif isinstance(item, list):
                strings += [sub for sub in item if isinstance(sub, str)]
        if strings:
            return strings
    return [] if found else None


def _line_items(text: str, max_words: int) -> list[str]:
    """Items of free-form output: one per line or comma-separated; bullets, headers, prose removed.

    A line is prose when it ends like a sentence and one of its comma-separated parts has more
    than ``max_words`` words ("I am sorry, but I cannot help with that.").
    """
    items: list[str] = []
    for line in _FENCE.sub("", text).splitlines():
        line = _BULLET.sub("", line).strip()
        if not line or line.endswith((":", "：")):
            continue  # a header such as "Here are some alternatives:"
        # "Alternatives: a, b" -> "a, b"
        for colon in (": ", "："):
            if colon in line:
                line = line.rsplit(colon, 1)[1]
        parts = _SEPARATOR.split(line)
        if line.endswith((".", "!", "?", "。", "！", "？")) and max(len(p.split()) for p in parts) > max_words:
            continue
        items += parts
    return items


def parse_replacements(text: str, poi: str, limit: int) -> list[str]:
    """Replacement strings from a model's reply, best effort; ``[]`` when nothing usable.

    A JSON array anywhere in the reply wins (models wrap it in prose or code fences); otherwise
    one item per line or comma-separated item, skipping sentence-like lines. Dropped: blanks,
    items without a letter or digit, the POI itself (case-insensitive), duplicates, items with
    newlines, items longer than ``3 * len(poi) + 10`` characters (prose, not a replacement),
    echoes of the ``[[mark]]`` and items with U+FFFD (a multi-byte character cut by the token
    limit). Order is kept, capped at ``limit``.
    """
    if limit < 1 or not text:
        return []
    from_json = _json_strings(text)
    raw = from_json if from_json is not None else _line_items(text, max(3, len(poi.split()) + 2))
    max_length = 3 * len(poi) + 10
    seen = {poi.strip().casefold()}
    out: list[str] = []
    for item in raw:
        if "\n" in item or "\r" in item or "[[" in item or "]]" in item or "\ufffd" in item:
            continue
        item = item.strip(_QUOTES).rstrip(_TRAILING).strip(_QUOTES)
        key = item.casefold()
        if not item or key in seen or len(item) > max_length or not _WORD.search(item):
            continue
        seen.add(key)
        out.append(item)
        if len(out) == limit:
            break
    return out


# --------------------------------------------------------------------------- backends


@dataclass(frozen=True)
class GenerationSettings:
    temperature: float = 0.7  # 0: greedy
    top_p: float = 0.9
    seed: int = 0
    max_new_tokens: int = 64

    def __post_init__(self) -> None:
        _check_generation(self, "GenerationSettings")

    def canonical(self) -> dict[str, Any]:
        """Typed values, so 0 and 0.0 give the same cache key."""
        return {"temperature": float(self.temperature), "top_p": float(self.top_p),
                "seed": int(self.seed), "max_new_tokens": int(self.max_new_tokens)}


def _check_generation(settings: Any, owner: str) -> None:
    if settings.temperature < 0:
        raise ValueError(f"{owner}.temperature must be >= 0, got {settings.temperature}")
    if not 0 < settings.top_p <= 1:
        raise ValueError(f"{owner}.top_p must be in (0, 1], got {settings.top_p}")
    if settings.seed < 0:
        raise ValueError(f"{owner}.seed must be >= 0, got {settings.seed}")
    if settings.max_new_tokens < 1:
        raise ValueError(f"{owner}.max_new_tokens must be at least 1, got {settings.max_new_tokens}")


@runtime_checkable
class LLMBackend(Protocol):
    @property
    def name(self) -> str:
        """Identity of backend and model: part of the cache key, so it must not hold secrets."""
        ...

    def generate(self, messages: Messages, *, temperature: float, top_p: float, seed: int,
                 max_new_tokens: int) -> str: ...


class LocalCausalLM:
    """A transformers causal LM with a chat template, from a local directory, on CPU.

    Loaded on first use, once. Generation is seeded inside a forked RNG so the caller's global
    torch RNG is untouched; ``top_k`` is off so temperature/top_p mean what they mean for an
    OpenAI-compatible server.
    """

    def __init__(self, path: Path | str = DEFAULT_MODEL_PATH) -> None:
        self.path = Path(path)
        self._model: Any = None
        self._tokenizer: Any = None

    @property
    def name(self) -> str:
        return f"local:{self.path.name}"

    def _load(self) -> tuple[Any, Any]:
        if self._model is None:
            if not self.path.is_dir():
                raise LLMError(f"model: no model directory at {self.path}")
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(str(self.path), local_files_only=True, dtype=torch.float32)
            model.eval()
            self._tokenizer, self._model = tokenizer, model
        return self._model, self._tokenizer

    def generate(self, messages: Messages, *, temperature: float, top_p: float, seed: int,
                 max_new_tokens: int) -> str:
        _model, tokenizer = self._load()
        inputs = tokenizer.apply_chat_template(
            [dict(m) for m in messages], add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        return self._generate(inputs, pad, temperature=temperature, top_p=top_p, seed=seed,
                              max_new_tokens=max_new_tokens)[0]

    def _generate(self, inputs, pad: int, *, temperature: float, top_p: float, seed: int,
                  max_new_tokens: int) -> list[str]:
        """Seeded ``model.generate`` on tokenized prompts; the new text of each row."""
        import torch

        model, tokenizer = self._load()
        options: dict[str, Any] = {"max_new_tokens": max_new_tokens, "pad_token_id": pad}
        if temperature > 0:
            options.update(do_sample=True, temperature=temperature, top_p=top_p, top_k=0)
        else:
            options.update(do_sample=False)
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(seed)
            output = model.generate(**inputs, **options)
        prompt_length = inputs["input_ids"].shape[1]
        return [tokenizer.decode(row[prompt_length:], skip_special_tokens=True) for row in output]

    def generate_batch(self, conversations: Sequence[Messages], *, temperature: float, top_p: float, seed: int,
                       max_new_tokens: int) -> list[str]:
        """Several prompts in one left-padded ``generate`` call: on CPU a 135M model's step costs
        about the same for 1 or 16 rows, so a batch answers ~N times faster (greedy answers equal
        ``generate``'s up to padding numerics; sampled ones depend on the batch's composition)."""
        _model, tokenizer = self._load()
        texts = [tokenizer.apply_chat_template([dict(m) for m in messages], add_generation_prompt=True, tokenize=False)
                 for messages in conversations]
        side = tokenizer.padding_side
        tokenizer.padding_side = "left"  # generation continues every row at the same position
        try:
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
            if tokenizer.pad_token_id is None:
                tokenizer.pad_token = tokenizer.eos_token
            inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        finally:
            tokenizer.padding_side = side
        return self._generate(inputs, pad, temperature=temperature, top_p=top_p, seed=seed,
                              max_new_tokens=max_new_tokens)


class OpenAICompatible:
    """``POST {base_url}/chat/completions`` (OpenAI chat schema) with stdlib urllib.

    The API key is read from ``api_key_env`` at each call and only ever sent in the
    Authorization header: it is not stored on the object, not part of ``name`` (the cache key)
    and redacted from error messages. An unset variable sends no header (local servers).
    """

    def __init__(self, base_url: str, model: str, api_key_env: str | None = "OPENAI_API_KEY",
                 timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = timeout

    @property
    def name(self) -> str:
        return f"openai:{self.model}@{self.base_url}"

    def generate(self, messages: Messages, *, temperature: float, top_p: float, seed: int,
                 max_new_tokens: int) -> str:
        url = f"{self.base_url}/chat/completions"
        body = {
            "model": self.model, "messages": [dict(m) for m in messages], "temperature": temperature,
            "top_p": top_p, "seed": seed, "max_tokens": max_new_tokens,
        }
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")

        def fail(message: str) -> LLMError:
            return LLMError(message.replace(key, "***") if key else message)

        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            try:
                detail = exc.read(200).decode("utf-8", "replace")
            except (OSError, http.client.HTTPException):
                detail = ""
            finally:
                exc.close()
            raise fail(f"http {exc.code}: POST {url}: {detail.strip()[:200]}") from None
        except TimeoutError:
            raise fail(f"timeout: POST {url}: no answer within {self.timeout} s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise fail(f"timeout: POST {url}: no answer within {self.timeout} s") from None
            raise fail(f"network: POST {url}: {exc.reason}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise fail(f"network: POST {url}: {type(exc).__name__}: {exc}") from None
        try:
            data = json.loads(payload)
        except ValueError:
            snippet = payload[:80].decode("utf-8", "replace")
            raise fail(f"malformed response: POST {url}: not JSON: {snippet!r}") from None
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise fail(f"malformed response: POST {url}: no choices[0].message.content") from None
        if not isinstance(content, str):
            raise fail(f"malformed response: POST {url}: content is {type(content).__name__}, not text")
        return content


# --------------------------------------------------------------------------- cache


class CachedLLM:
    """A backend behind a disk cache: one JSON file per (backend, messages, settings) key.

    Records carry no timestamp, so the cache directory of a rerun is byte-identical. Lookup,
    backend call and store are separate so the caller can decide what is worth caching
    (``propose_replacements`` stores only parseable answers).
    """

    def __init__(self, backend: LLMBackend, cache_dir: Path | str) -> None:
        self.backend = backend
        self.cache_dir = Path(cache_dir)
        self.hits = 0
        self.misses = 0
        self._prefetched: dict[str, str] = {}  # key -> answer generated in a batch, not yet consumed

    def _identity(self, messages: Messages, settings: GenerationSettings) -> dict[str, Any]:
        return {
            "backend": self.backend.name,
            "messages": [{"role": str(m["role"]), "content": str(m["content"])} for m in messages],
            "settings": settings.canonical(),
        }

    def key(self, messages: Messages, settings: GenerationSettings) -> str:
        canonical = json.dumps(self._identity(messages, settings), ensure_ascii=False, sort_keys=True,
                               separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def path(self, key: str) -> Path:
        return self.cache_dir / f"{key}.json"

    def lookup(self, messages: Messages, settings: GenerationSettings) -> str | None:
        """The cached response, or None; counts a hit or a miss. Unreadable records are misses."""
        key = self.key(messages, settings)
        try:
            record = json.loads(self.path(key).read_text(encoding="utf-8"))
            response = record["response"] if record.get("key") == key else None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            response = None
        if isinstance(response, str):
            self.hits += 1
            return response
        self.misses += 1
        return None

    def call(self, messages: Messages, settings: GenerationSettings) -> str:
        """The backend's answer, uncached (or prefetched); raises whatever the backend raises."""
        prefetched = self._prefetched.pop(self.key(messages, settings), None)
        if prefetched is not None:
            return prefetched
        return self.backend.generate(messages, **settings.canonical())

    def prefetch(self, conversations: Sequence[Messages], settings: GenerationSettings) -> int:
        """Answer the uncached prompts in one batch when the backend can (``generate_batch``);
        ``call`` then returns those answers without a backend call. Returns how many were generated."""
        batch = getattr(self.backend, "generate_batch", None)
        if batch is None:
            return 0
        todo: dict[str, Messages] = {}
        for messages in conversations:
            key = self.key(messages, settings)
            if key not in todo and key not in self._prefetched and not self.path(key).is_file():
                todo[key] = messages
        if not todo:
            return 0
        answers = batch(list(todo.values()), **settings.canonical())
        self._prefetched.update(zip(todo, answers))
        return len(todo)

    def store(self, messages: Messages, settings: GenerationSettings, response: str) -> Path:
        key = self.key(messages, settings)
        record = {"key": key, **self._identity(messages, settings), "response": response}
        write_json_atomic(self.path(key), record)
        return self.path(key)

    def generate(self, messages: Messages, settings: GenerationSettings) -> tuple[str, bool]:
        """(response, cached): from the cache, else from the backend and then stored."""
        cached = self.lookup(messages, settings)
        if cached is not None:
            return cached, True
        response = self.call(messages, settings)
        self.store(messages, settings, response)
        return response, False


# --------------------------------------------------------------------------- proposals


@dataclass(frozen=True)
class LLMProposal:
    replacements: tuple[str, ...]  # parsed, filtered, at most request.max_replacements
    failure: str | None  # "timeout: ...", "http 500: ...", "unparseable: <first 80 chars>", ...
    cached: bool  # the response came from the cache
    raw: str | None  # the model's text; None when the backend failed

    @property
    def ok(self) -> bool:
        return self.failure is None


def propose_replacements(llm: CachedLLM, request: LLMRequest, settings: GenerationSettings) -> LLMProposal:
    """Ask the LLM for replacements of ``request.poi``; never raises for a backend failure.

    Failures (backend errors and unparseable answers) are returned, not cached, so a rerun
    retries them; parseable answers are cached.
    """
    messages = build_prompt(request)
    raw = llm.lookup(messages, settings)
    cached = raw is not None
    if raw is None:
        try:
            raw = llm.call(messages, settings)
        except LLMError as exc:
            return LLMProposal((), str(exc), False, None)
        except Exception as exc:  # noqa: BLE001 -- a backend bug must not end a corpus-wide run
            return LLMProposal((), f"error: {type(exc).__name__}: {exc}", False, None)
    # A small model may copy the prompt's worked example: those strings are not about this POI.
    replacements = [r for r in parse_replacements(raw, request.poi, request.max_replacements + len(EXAMPLE_ANSWER))
                    if r not in EXAMPLE_ANSWER][: request.max_replacements]
    if not replacements:
        snippet = raw[:80].replace("\n", "\\n")
        return LLMProposal((), f"unparseable: {snippet}", cached, raw)
    if not cached:
        llm.store(messages, settings, raw)
    return LLMProposal(tuple(replacements), None, cached, raw)


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class LLMConfig:
    backend: str = "local"  # "local" (transformers, model_path), "openai" (base_url + model) or "none"
    model_path: str = DEFAULT_MODEL_PATH  # local HF model directory with a chat template
    base_url: str | None = None  # OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1
    model: str | None = None  # model name sent to that server
    api_key_env: str = "OPENAI_API_KEY"  # environment variable holding the key (never stored)
    temperature: float = 0.7  # 0: greedy
    top_p: float = 0.9
    seed: int = 0
    max_new_tokens: int = 64
    timeout_s: float = 30.0  # per HTTP request
    max_replacements: int = 5  # per POI

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"LLMConfig.backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.backend == "local" and not self.model_path:
            raise ValueError("LLMConfig.model_path is required when backend='local'")
        if self.backend == "openai":
            if not self.base_url or not self.base_url.startswith(("http://", "https://")):
                raise ValueError(
                    f"LLMConfig.base_url must be an http(s) URL when backend='openai', got {self.base_url!r}")
            if not self.model:
                raise ValueError("LLMConfig.model is required when backend='openai'")
        _check_generation(self, "LLMConfig")
        if self.timeout_s <= 0:
            raise ValueError(f"LLMConfig.timeout_s must be > 0, got {self.timeout_s}")
        if self.max_replacements < 1:
            raise ValueError(f"LLMConfig.max_replacements must be at least 1, got {self.max_replacements}")

    @property
    def generation(self) -> GenerationSettings:
        return GenerationSettings(self.temperature, self.top_p, self.seed, self.max_new_tokens)


def make_backend(config: LLMConfig) -> LLMBackend | None:
    """The configured backend, or None for ``backend="none"`` (the LLM source is off)."""
    if config.backend == "none":
        return None
    if config.backend == "local":
        if not Path(config.model_path).is_dir():
            raise ConfigError(f"LLMConfig.model_path: no model directory at {config.model_path!r}")
        return LocalCausalLM(config.model_path)
    assert config.base_url is not None and config.model is not None  # checked by LLMConfig
    return OpenAICompatible(config.base_url, config.model, config.api_key_env, config.timeout_s)


__all__ = [
    "BACKENDS", "EXAMPLE_ANSWER", "CachedLLM", "GenerationSettings", "LLMBackend", "LLMConfig", "LLMError",
    "LLMProposal", "LLMRequest", "LocalCausalLM", "OpenAICompatible", "build_prompt", "language_name", "make_backend",
    "parse_replacements", "propose_replacements",
]
