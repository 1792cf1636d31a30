"""LLM replacement proposals: prompt, parsing, OpenAI-compatible client, cache, failures, local model."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from workbench.nearmiss.llm import (
    EXAMPLE_ANSWER,
    CachedLLM,
    GenerationSettings,
    LLMBackend,
    LLMConfig,
    LLMError,
    LLMRequest,
    LocalCausalLM,
    OpenAICompatible,
    build_prompt,
    make_backend,
    parse_replacements,
    propose_replacements,
)

REPO = Path(__file__).resolve().parents[1]
SECRET = "sk-test-very-secret-key-0123456789"
GREEDY = GenerationSettings(temperature=0.0, top_p=1.0, seed=0, max_new_tokens=48)


def meeting_request(**overrides) -> LLMRequest:
    fields = {"matrix_language": "zh", "embedded_language": "en", "nbest_candidates": ("米听", "meating")}
    fields.update(overrides)
    return LLMRequest.for_poi("我们明天开 meeting 讨论预算", "meeting", **fields)


# --------------------------------------------------------------------------- request and prompt


def test_request_span_and_occurrence():
    request = LLMRequest.for_poi("ok ok ok", "ok", occurrence=1, matrix_language="vi", embedded_language="en")
    assert (request.poi_start, request.poi_end, request.poi) == (3, 5, "ok")
    assert request.marked_reference == "ok [[ok]] ok"
    with pytest.raises(ValueError, match="does not occur"):
        LLMRequest.for_poi("ok", "ok", occurrence=1, matrix_language="vi", embedded_language="en")
    with pytest.raises(ValueError, match="span"):
        LLMRequest("abc", 2, 2, "zh", "en")
    assert isinstance(LLMRequest("abc", 0, 1, "zh", "en", ["x"]).nbest_candidates, tuple)  # type: ignore[arg-type]


def test_prompt_marks_poi_and_lists_candidates():
    messages = build_prompt(meeting_request())
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    user = messages[-1]["content"]
    assert "我们明天开 [[meeting]] 讨论预算" in user
    assert '"米听", "meating"' in user
    assert "JSON list of strings" in user
    assert "Mandarin" in user and "English" in user
    assert "up to 5" in user
    assert json.loads(messages[2]["content"]) == list(EXAMPLE_ANSWER)
    no_candidates = build_prompt(meeting_request(nbest_candidates=()))[-1]["content"]
    assert "(none)" in no_candidates


PARSE_CASES = [
    ('["meating", "米听", "mitting"]', ["meating", "米听", "mitting"]),
    ('Sure! Here you go:\n```json\n["meating", "meeding"]\n```', ["meating", "meeding"]),
    ('{"replacements": ["meating"]}', ["meating"]),
    ("- meating\n- meeding\n* 米听", ["meating", "meeding", "米听"]),
    ("Here are some alternatives:\n1. meating\n2) meeding\n3. mitting.", ["meating", "meeding", "mitting"]),
    ('"meating", \'meeding\', “米听”', ["meating", "meeding", "米听"]),
    ("Alternatives: meating, meeding", ["meating", "meeding"]),
    ('["Meeting", "meeting", "meating", "MEATING", "meeding"]', ["meating", "meeding"]),  # POI and dups
    ('["meating", "meeding", "mitting", "米听", "meetin", "meting"]',
     ["meating", "meeding", "mitting", "米听", "meetin"]),
    ('["x" , "a\\nb", "' + "z" * 40 + '", "..."]', ["x"]),  # newline, too long (> 3*7+10), no letters
    ('["meating", "meed', ["meating", "meed"]),  # cut by the token limit
    ('["[[meeting]] 讨论", "我\ufffd", "meating"]', ["meating"]),  # echoed mark, broken character
    ("I am sorry, but I cannot help with this request at all.", []),
    ("???\n!!!", []),
    ("", []),
    ("[1, 2, 3]", []),
]


@pytest.mark.parametrize("text, expected", PARSE_CASES)
def test_parse_replacements(text, expected):
    assert parse_replacements(text, "meeting", 5) == expected


def test_parse_limit():
    assert parse_replacements('["a1", "b2", "c3"]', "meeting", 2) == ["a1", "b2"]
    assert parse_replacements('["a1"]', "meeting", 0) == []


# --------------------------------------------------------------------------- stub OpenAI-compatible server


class _Handler(BaseHTTPRequestHandler):
    """``/<mode>/v1/chat/completions``: mode picks the answer; every request is recorded."""

    server: _StubServer

    def log_message(self, format, *args):  # keep pytest output clean
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        mode = self.path.strip("/").split("/")[0]
        if mode == "ok":
            content = '["meating", "米听", "meeting"]'
            message = {"role": "assistant", "content": content}
            self._send(200, json.dumps({"choices": [{"index": 0, "message": message}]}))
        elif mode == "prose":
            message = {"role": "assistant", "content": "I cannot do that."}
            self._send(200, json.dumps({"choices": [{"message": message}]}))
        elif mode == "garbage":
            self._send(200, "<html>not json</html>", "text/html")
        elif mode == "nochoices":
            self._send(200, json.dumps({"error": "nope"}))
        elif mode == "error500":
            self._send(500, json.dumps({"error": "internal"}))
        elif mode == "slow":
            time.sleep(1.0)
            try:
                self._send(200, json.dumps({"choices": [{"message": {"content": '["late"]'}}]}))
            except OSError:
                pass  # the client gave up
        else:
            self._send(404, "unknown")

    def _send(self, status: int, text: str, content_type: str = "application/json") -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _StubServer(ThreadingHTTPServer):
    daemon_threads = True
    requests: list

    def handle_error(self, request, client_address):  # a client that timed out is expected
        pass


@pytest.fixture()
def stub() -> Iterator[_StubServer]:
    server = _StubServer(("127.0.0.1", 0), _Handler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _url(server: _StubServer, mode: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/{mode}/v1"


def test_openai_compatible_success_sends_key_and_keeps_it_out_of_cache(stub, tmp_path, monkeypatch):
    monkeypatch.setenv("WB_TEST_KEY", SECRET)
    backend = OpenAICompatible(_url(stub, "ok"), "tiny", api_key_env="WB_TEST_KEY", timeout=5)
    assert isinstance(backend, LLMBackend)
    llm = CachedLLM(backend, tmp_path / "cache")
    proposal = propose_replacements(llm, meeting_request(), GREEDY)
    assert proposal.ok and not proposal.cached
    assert proposal.replacements == ("meating", "米听")  # the POI itself is dropped
    (sent,) = stub.requests
    assert sent["path"] == "/ok/v1/chat/completions"
    assert sent["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert sent["body"]["model"] == "tiny"
    assert sent["body"]["messages"] == build_prompt(meeting_request())
    assert (sent["body"]["temperature"], sent["body"]["seed"], sent["body"]["max_tokens"]) == (0.0, 0, 48)
    files = list((tmp_path / "cache").iterdir())
    assert len(files) == 1
    assert SECRET not in files[0].read_text(encoding="utf-8")
    assert "WB_TEST_KEY" not in files[0].read_text(encoding="utf-8")
    assert SECRET not in backend.name and SECRET not in repr(vars(backend))

    again = propose_replacements(llm, meeting_request(), GREEDY)
    assert again.cached and again.replacements == proposal.replacements
    assert len(stub.requests) == 1


def test_no_key_in_environment_sends_no_authorization(stub, tmp_path, monkeypatch):
    monkeypatch.delenv("WB_TEST_KEY", raising=False)
    backend = OpenAICompatible(_url(stub, "ok"), "tiny", api_key_env="WB_TEST_KEY", timeout=5)
    assert backend.generate(build_prompt(meeting_request()), **GREEDY.canonical())
    assert "Authorization" not in stub.requests[0]["headers"]


@pytest.mark.parametrize(
    "mode, failure_prefix",
    [
        ("garbage", "malformed response"),
        ("nochoices", "malformed response"),
        ("error500", "http 500"),
        ("slow", "timeout"),
        ("missing", "http 404"),
    ],
)
def test_backend_failures_are_recorded_not_raised(stub, tmp_path, monkeypatch, mode, failure_prefix):
    monkeypatch.setenv("WB_TEST_KEY", SECRET)
    cache = tmp_path / "cache"
    failing = CachedLLM(OpenAICompatible(_url(stub, mode), "tiny", api_key_env="WB_TEST_KEY", timeout=0.3), cache)
    proposal = propose_replacements(failing, meeting_request(), GREEDY)
    assert not proposal.ok and proposal.replacements == () and proposal.raw is None and not proposal.cached
    assert proposal.failure.startswith(failure_prefix), proposal.failure
    assert f"/{mode}/v1/chat/completions" in proposal.failure
    assert SECRET not in proposal.failure
    assert not cache.exists() or not any(cache.iterdir())  # failures are not cached

    # the run goes on: another source still answers
    working = CachedLLM(OpenAICompatible(_url(stub, "ok"), "tiny", api_key_env="WB_TEST_KEY", timeout=5), cache)
    assert propose_replacements(working, meeting_request(), GREEDY).replacements == ("meating", "米听")

    # a rerun of the failing source retries instead of replaying the failure
    before = len(stub.requests)
    assert not propose_replacements(failing, meeting_request(), GREEDY).ok
    assert len(stub.requests) == before + 1


def test_unparseable_answer_is_a_failure_and_not_cached(stub, tmp_path):
    llm = CachedLLM(OpenAICompatible(_url(stub, "prose"), "tiny", api_key_env=None, timeout=5), tmp_path / "c")
    proposal = propose_replacements(llm, meeting_request(), GREEDY)
    assert proposal.failure == "unparseable: I cannot do that."
    assert proposal.raw == "I cannot do that."
    assert not (tmp_path / "c").exists()


def test_connection_refused_is_a_network_failure(tmp_path):
    with _StubServer(("127.0.0.1", 0), _Handler) as closed:
        port = closed.server_address[1]
    backend = OpenAICompatible(f"http://127.0.0.1:{port}/v1", "tiny", api_key_env=None, timeout=2)
    with pytest.raises(LLMError, match="^network: POST http://127.0.0.1"):
        backend.generate(build_prompt(meeting_request()), **GREEDY.canonical())


# --------------------------------------------------------------------------- cache


class CountingBackend:
    def __init__(self, answer: str = '["meating", "meeding"]', error: Exception | None = None) -> None:
        self.calls = 0
        self.answer = answer
        self.error = error

    @property
    def name(self) -> str:
        return "counting:v1"

    def generate(self, messages, *, temperature, top_p, seed, max_new_tokens) -> str:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.answer


def test_cache_hits_skip_the_backend_and_seed_is_part_of_the_key(tmp_path):
    backend = CountingBackend()
    llm = CachedLLM(backend, tmp_path)
    first = propose_replacements(llm, meeting_request(), GREEDY)
    assert (first.cached, first.replacements, backend.calls) == (False, ("meating", "meeding"), 1)

    rerun = CachedLLM(CountingBackend(), tmp_path)  # a new process: only the directory is shared
    second = propose_replacements(rerun, meeting_request(), GREEDY)
    assert (second.cached, second.replacements, rerun.backend.calls) == (True, first.replacements, 0)
    assert (rerun.hits, rerun.misses) == (1, 0)

    reseeded = GenerationSettings(temperature=0.0, top_p=1.0, seed=1, max_new_tokens=48)
    third = propose_replacements(rerun, meeting_request(), reseeded)
    assert (third.cached, rerun.backend.calls, rerun.hits, rerun.misses) == (False, 1, 1, 1)
    assert len(list(tmp_path.glob("*.json"))) == 2


def test_cache_key_and_record_are_deterministic(tmp_path):
    llm = CachedLLM(CountingBackend(), tmp_path)
    messages = build_prompt(meeting_request())
    assert llm.key(messages, GREEDY) == llm.key(messages, GenerationSettings(0, 1, 0, 48))  # int/float alike
    assert llm.key(messages, GREEDY) != llm.key(messages, GenerationSettings(0, 1, 0, 47))
    path = llm.store(messages, GREEDY, "answer")
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record["response"] == "answer" and record["backend"] == "counting:v1"
    assert record["settings"] == {"temperature": 0.0, "top_p": 1.0, "seed": 0, "max_new_tokens": 48}
    text = path.read_text(encoding="utf-8")
    llm.store(messages, GREEDY, "answer")
    assert path.read_text(encoding="utf-8") == text  # no timestamps
    path.write_text("{not json", encoding="utf-8")
    assert llm.lookup(messages, GREEDY) is None  # a damaged record is a miss


def test_backend_exception_is_recorded(tmp_path):
    llm = CachedLLM(CountingBackend(error=RuntimeError("boom")), tmp_path)
    proposal = propose_replacements(llm, meeting_request(), GREEDY)
    assert proposal.failure == "error: RuntimeError: boom"
    assert not list(tmp_path.iterdir())


def test_copied_example_answers_are_dropped(tmp_path):
    llm = CachedLLM(CountingBackend(json.dumps([*EXAMPLE_ANSWER, "meating"])), tmp_path)
    assert propose_replacements(llm, meeting_request(), GREEDY).replacements == ("meating",)


# --------------------------------------------------------------------------- config


def test_config_validation_names_the_field(tmp_path):
    with pytest.raises(ValueError, match="LLMConfig.backend"):
        LLMConfig(backend="gpt")
    with pytest.raises(ValueError, match="LLMConfig.base_url"):
        LLMConfig(backend="openai", model="m")
    with pytest.raises(ValueError, match="LLMConfig.model "):
        LLMConfig(backend="openai", base_url="http://127.0.0.1:1/v1")
    with pytest.raises(ValueError, match="LLMConfig.top_p"):
        LLMConfig(top_p=0)
    with pytest.raises(ValueError, match="LLMConfig.temperature"):
        LLMConfig(temperature=-1)
    with pytest.raises(ValueError, match="LLMConfig.max_new_tokens"):
        LLMConfig(max_new_tokens=0)
    with pytest.raises(ValueError, match="LLMConfig.timeout_s"):
        LLMConfig(timeout_s=0)
    with pytest.raises(ValueError, match="LLMConfig.max_replacements"):
        LLMConfig(max_replacements=0)
    with pytest.raises(ValueError, match="LLMConfig.model_path"):
        make_backend(LLMConfig(model_path=str(tmp_path / "absent")))


def test_make_backend():
    assert make_backend(LLMConfig(backend="none")) is None
    remote = make_backend(LLMConfig(backend="openai", base_url="http://127.0.0.1:1/v1/", model="m", timeout_s=3))
    assert isinstance(remote, OpenAICompatible)
    assert (remote.name, remote.timeout) == ("openai:m@http://127.0.0.1:1/v1", 3)
    config = LLMConfig(temperature=0, seed=7)
    assert config.generation == GenerationSettings(0, 0.9, 7, 64)


# --------------------------------------------------------------------------- the real local model


@pytest.fixture(scope="session")
def smollm2_dir(tmp_path_factory) -> Path:
    """The repository's converted SmolLM2 if built, else converted from the installed package."""
    built = REPO / "models" / "SmolLM2-135M-Instruct"
    if (built / "model.safetensors").is_file() and (built / "config.json").is_file():
        return built
    from workbench.assets.materialize import smollm2

    return smollm2(tmp_path_factory.mktemp("llm"))


def test_local_smollm2_answers_two_prompts(smollm2_dir, tmp_path):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine is shared
    try:
        backend = make_backend(LLMConfig(model_path=str(smollm2_dir)))
        assert isinstance(backend, LocalCausalLM) and backend.name == "local:SmolLM2-135M-Instruct"
        llm = CachedLLM(backend, tmp_path)
        requests = [
            meeting_request(),
            LLMRequest.for_poi(
                "Chiều nay tôi phải gửi email cho khách hàng", "email",
                matrix_language="vi", embedded_language="en", nbest_candidates=("i meo", "e-mail"),
            ),
        ]
        rng_before = torch.get_rng_state()
        for request in requests:
            proposal = propose_replacements(llm, request, GREEDY)
            assert isinstance(proposal.raw, str), proposal.failure  # the model answered
            assert proposal.failure is None or proposal.failure.startswith("unparseable: ")
            assert isinstance(parse_replacements(proposal.raw, request.poi, 5), list)
            print(f"SmolLM2 on {request.marked_reference!r}: {proposal.raw!r} -> {proposal.replacements}")
            if proposal.ok:
                assert propose_replacements(llm, request, GREEDY).cached
        assert torch.equal(torch.get_rng_state(), rng_before)  # seeding does not leak into the caller
    finally:
        torch.set_num_threads(threads)
