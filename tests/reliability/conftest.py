"""Fault injection: tiny real workspaces, the real ``workbench`` CLI in killable subprocesses,
and a ledger of the faults injected that prints "N faults injected, N recovered, 0 outputs lost".

Every test injects one fault through the ``fault`` fixture: ``inject`` it, report any output
found half written or destroyed with ``lost``, and call ``recovered`` once the stage came back
(a rerun ended with the uninterrupted run's result, or the stage refused with an error naming
the file and kept the previous output). Killed runs are the ``workbench`` console script in its
own process group, stopped with SIGSTOP whenever its checkpoint changes and SIGKILLed once it
reached the seeded step. The training stages keep their checkpoints beside their output, in
``<out>.resume/<fingerprint>/`` (workbench.data.resume); their reruns, the console script
too, start from a copy of that state without the output (deleted, as dvc repro does). Uninterrupted
reference runs, the data stages' reruns and the bad-input runs call ``workbench.cli.main`` in this
process (the console script's own entry point, without the ~6 s of a second interpreter start-up
and imports), with one torch thread as every subprocess has: runs are bit-reproducible, so
results compare exactly.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
WORKBENCH = Path(sys.executable).parent / "workbench"  # the console script `pip install` made
FAULT_SEED = int(os.environ.get("WORKBENCH_FAULT_SEED", "2026"))  # the kill steps are drawn from it
NO_PARAMS = f"--params={Path(__file__).with_name('defaults.yaml')}"  # built-in defaults, whatever the working directory
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
       "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


# --- the ledger ---

@dataclass
class Fault:
    case: str
    kind: str = ""
    detail: str = ""
    injected: bool = False
    came_back: bool = False
    lost_outputs: list[str] = field(default_factory=list)

    def inject(self, kind: str, detail: str) -> None:
        self.kind, self.detail, self.injected = kind, detail, True

    def lost(self, paths) -> None:
        """Record outputs found half written or destroyed, then require there are none."""
        self.lost_outputs += [str(p) for p in paths]
        assert not self.lost_outputs, f"outputs lost: {self.lost_outputs}"

    def recovered(self) -> None:
        self.came_back = True


LEDGER: list[Fault] = []


@pytest.fixture()
def fault(request) -> Fault:
    record = Fault(request.node.name)
    LEDGER.append(record)
    return record


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    faults = [f for f in LEDGER if f.injected]
    if not faults:
        return
    terminalreporter.section("fault injection")
    if config.getoption("verbose") > 0:
        for f in faults:
            state = "recovered" if f.came_back else "NOT RECOVERED"
            terminalreporter.write_line(f"{f.kind:<22} {f.detail:<64} {state}")
    lost = sum(len(f.lost_outputs) for f in faults)
    terminalreporter.write_line(f"{len(faults)} faults injected, {sum(f.came_back for f in faults)} recovered, "
                                f"{lost} outputs lost")


# --- running stages ---

def seeded_step(case: str, low: int, high: int) -> int:
    """The step to kill ``case`` at: random, but the same on every run of the suite."""
    return random.Random(f"{FAULT_SEED}:{case}").randint(low, high)


def _settings(stage: str) -> list[str]:
    """The params file, and one torch thread for the stages that have the setting."""
    import dataclasses
    import importlib

    module = importlib.import_module(f"workbench.stages.{stage}")
    config = module.STAGE.config if hasattr(module, "STAGE") else (getattr(module, "CONFIG", None) or (None,))[0]
    threads = config is not None and "threads" in {f.name for f in dataclasses.fields(config)}
    return [NO_PARAMS, *(["--set", "threads=1"] if threads else [])]


def in_process(argv: list[str]) -> tuple[int, str]:
    """``workbench.cli.main(argv)`` here; (exit code, stderr). Restores torch's thread count."""
    import torch

    from workbench.cli import main

    threads, stderr = torch.get_num_threads(), io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            code = main([*argv, *_settings(argv[0])])
    finally:
        torch.set_num_threads(threads)
    return code, stderr.getvalue()


def start(argv: list[str], log: Path, preexec_fn=None) -> subprocess.Popen:
    """The real CLI in its own process group (SIGKILL reaches espeak and the like too)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as handle:
        return subprocess.Popen([str(WORKBENCH), *argv, *_settings(argv[0])], env=ENV, stdout=handle,
                                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=preexec_fn)


def run(argv: list[str], log: Path, preexec_fn=None, timeout: float = 300) -> tuple[int, str]:
    process = start(argv, log, preexec_fn)
    try:
        code = process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    return code, log.read_text(errors="replace")


def kill_at(argv: list[str], log: Path, progress: Callable[[], int | None], target: int, timeout: float = 240) -> int:
    """Start the stage, SIGKILL it once ``progress()`` (its last complete checkpoint's step, or
    its count of finished records) reached ``target``; returns the progress it was killed at.

    Whenever the files ``progress`` looks at change, the process group is stopped (SIGSTOP) while
    they are read, so a fast stage cannot run past the target between two looks."""
    process = start(argv, log)
    deadline, seen = time.time() + timeout, None
    try:
        while time.time() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"{argv[0]} ended (exit {process.returncode}) before reaching {target}:\n"
                                     + log.read_text(errors="replace")[-3000:])
            now = progress()
            if now is not None and now != seen:
                os.killpg(process.pid, signal.SIGSTOP)
                now = progress()
                if now is not None and now >= target:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                    return now
                seen = now
                os.killpg(process.pid, signal.SIGCONT)
            time.sleep(0.003)
        raise AssertionError(f"{argv[0]} did not reach {target} in {timeout} s")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def resume_dir(out: Path) -> Path | None:
    """The resume state a run writing ``out`` keeps beside it: the one fingerprint directory in
    ``<out>.resume`` (None before the run made it)."""
    from workbench.data.resume import resume_root

    found = sorted(p for p in resume_root(out).glob("*") if p.is_dir())
    assert len(found) <= 1, f"resume states of several configurations: {found}"
    return found[0] if found else None


def checkpoint_progress(out: Path, key: str) -> Callable[[], int | None]:
    """The ``key`` (step / epoch) of the torch checkpoint in the resume state of ``out``, read
    only when it changed."""
    import torch

    from workbench.data.resume import resume_root

    last: list = [None, None]

    def progress() -> int | None:
        path = next(resume_root(out).glob("*/checkpoint.pt"), None)
        try:
            stat = path.stat() if path is not None else None
        except FileNotFoundError:
            stat = None
        if stat is None:
            return None
        if (stat.st_ino, stat.st_mtime_ns) != last[0]:
            try:
                last[1] = int(torch.load(path, map_location="cpu", weights_only=True)[key])
                last[0] = (stat.st_ino, stat.st_mtime_ns)
            except Exception:  # replaced while being opened: the next look reads the new one
                return last[1]
        return last[1]

    return progress


def trainer_progress(out: Path) -> Callable[[], int | None]:
    """The step of the newest complete transformers checkpoint (finished trainer_state.json) in
    the resume state of ``out``."""
    from workbench.data.resume import resume_root

    def progress() -> int | None:
        steps = []
        for path in resume_root(out).glob("*/checkpoints/checkpoint-*"):
            try:
                json.loads((path / "trainer_state.json").read_text())
                steps.append(int(path.name.rpartition("-")[2]))
            except (OSError, ValueError):
                pass
        return max(steps, default=None)

    return progress


def complete_lines(path: Path) -> Callable[[], int | None]:
    """Records (newline-terminated lines) in a resumable ``.partial`` jsonl."""

    def progress() -> int | None:
        try:
            return path.read_bytes().count(b"\n")
        except FileNotFoundError:
            return None

    return progress


def temporaries(directory: Path) -> list[Path]:
    """Atomic writers' temporary files and directories (dot names ending in .tmp)."""
    return sorted(p for p in directory.rglob(".*.tmp"))


def _content(path: Path):
    if path.suffix != ".json":
        return path.read_bytes()
    value = json.loads(path.read_text())
    if isinstance(value, dict) and isinstance(value.get("target_modules"), list):
        # peft keeps LoRA's target modules in a set: its JSON order follows the process's string
        # hash seed, so two processes write the same adapter config in different orders
        value["target_modules"] = sorted(value["target_modules"])
    return value


def tree(directory: Path, skip: Callable[[Path], bool] = lambda p: False) -> dict[str, object]:
    """Relative path -> content of every file under ``directory`` (temporaries excluded): the
    bytes, or the parsed value of a JSON file."""
    return {str(p.relative_to(directory)): _content(p) for p in sorted(directory.rglob("*"))
            if p.is_file() and not p.name.endswith(".tmp") and not skip(p)}


def summary_without(path: Path, *volatile: str) -> dict:
    """A train.json without its timing fields (wall-clock seconds differ run to run)."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in volatile}
        return value

    return strip(json.loads(path.read_text()))


# --- the workspace: tiny models and data every test shares ---

@dataclass(frozen=True)
class Workspace:
    root: Path
    train: Path  # 8 utterances (the 2 fixture clips, 4 times each under other ids)
    dev: Path
    pool: Path  # near-miss pool of train (POI spans; WCE needs no negatives)
    whisper: Path  # random tiny Whisper (openai-whisper checkpoint)
    lm: Path  # random 2-layer Llama + BPE tokenizer
    words: Path  # hotword list (distractors)
    frames: Path  # own-length feature store (encode --layout own) of train and dev (tiny Whisper encoder)
    sft: Path  # an SFT speech LLM, GRPO's starting point
    experiments: Path
    tracking: list[str]


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Workspace:
    import torch

    from workbench.testing.dummies import tiny_causal_lm, tiny_whisper

    root = tmp_path_factory.mktemp("reliability")
    corpus = root / "corpus"
    shutil.copytree(FIXTURES / "audio", corpus / "audio")
    rows = [json.loads(line) for line in (FIXTURES / "tiny.jsonl").read_text().splitlines()]
    train = [{**r, "id": f"{r['id']}-{i}", "split": "train"} for i in range(4) for r in rows]
    (corpus / "train.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in train))
    (corpus / "dev.jsonl").write_text(
        "".join(json.dumps({**r, "split": "dev"}, ensure_ascii=False) + "\n" for r in rows))
    pool = []
    for r in train:
        start = r["text"].index(r["hotwords"][0])
        poi = {"text": r["hotwords"][0], "start": start, "end": start + len(r["hotwords"][0]), "category": "embedded"}
        pool.append({"id": r["id"], "reference": r["text"], "pois": [poi], "negatives": []})
    (root / "pool.jsonl").write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pool))
    model = tiny_whisper()
    torch.save({"dims": model.dims.__dict__, "model_state_dict": model.state_dict()}, root / "tiny-whisper.pt")
    tiny_causal_lm(root / "lm")
    (root / "words.txt").write_text("Totoro\nSpiriva\nWegovy\nXarelto\nOzempic\nGoogle\nPonyo\n")
    experiments = root / "experiments"
    experiments.mkdir()
    (experiments / "wce.yaml").write_text("name: wce\nlosses: {wce: 1.0}\npoi_weight: 2.0\n")
    (experiments / "glclap.yaml").write_text("name: glclap\nmethod: glclap\nlosses: {global: 1.0, local: 1.0}\n")
    tracking = ["--set", "tracking.backend=disk", "--set", f"tracking.uri={root / 'runs'}"]
    code, err = in_process(["encode", "--layout", "own", str(corpus / "train.jsonl"), str(corpus / "dev.jsonl"),
                            "--out", str(root / "frames"), "--set", f"model={root / 'tiny-whisper.pt'}"])
    assert code == 0, err
    space = Workspace(root, corpus / "train.jsonl", corpus / "dev.jsonl", root / "pool.jsonl", root / "tiny-whisper.pt",
                      root / "lm", root / "words.txt", root / "frames", root / "sft-base" / "model",
                      experiments, tracking)
    code, err = in_process(sft_argv(space, root / "sft-base", epochs=1))
    assert code == 0, err
    return space


# --- the four training stages, tiny ---

def sft_argv(w: Workspace, out: Path, epochs: int = 3) -> list[str]:
    return ["sft_speechllm", "--manifest", str(w.train), "--vocabulary", str(w.words), "--frames", str(w.frames),
            "--out", str(out), "--set", f"lm={w.lm}", "--set", f"model={w.whisper}",
            "--set", "backbone=adapter_lm", "--set", "architecture.adapter_hidden=32",
            "--set", "architecture.lora_rank=4", "--set", f"loop.epochs={epochs}", "--set", "loop.batch_size=2",
            "--set", "loop.warmup_steps=1", "--set", "loop.checkpoint_every=1", *w.tracking]


@dataclass(frozen=True)
class TrainingStage:
    name: str
    argv: Callable[[Path], list[str]]
    progress: Callable[[Path], Callable[[], int | None]]
    total: int  # optimizer steps (the retriever checkpoints once an epoch: every 4 steps here)
    unit: str
    kill: tuple[int, int]  # the seeded kill step is drawn from this range: past the first epoch,
    # so the resume must also restore the per-epoch order and RNG, not only the weights
    finals: tuple[str, ...]  # what only a finished run writes
    result: Callable[[Path], dict]  # the final weights and metrics, to compare


def training_stages(w: Workspace) -> dict[str, TrainingStage]:
    def asr(out):
        return ["train_asr", "--experiment", str(w.experiments / "wce.yaml"), "--manifest", str(w.train),
                "--dev", str(w.dev),
                "--pool", str(w.pool), "--out", str(out), "--set", f"model={w.whisper}", "--set", "lora.rank=4",
                "--set", "lora.alpha=8", "--set", "lora.dropout=0.1", "--set", "loop.epochs=3",
                "--set", "loop.batch_size=2",
                "--set", "loop.checkpoint_every=1", "--set", "loop.warmup_steps=2", *w.tracking]

    def retriever(out):
        return ["train_retriever", "--experiment", str(w.experiments / "glclap.yaml"), "--manifest", str(w.train),
                "--frames", str(w.frames), "--out", str(out), "--set", f"model={w.whisper}",
                "--set", "architecture.text_encoder=chars",
                "--set", "architecture.symbol_dim=32", "--set", "architecture.symbol_layers=1",
                "--set", "loop.epochs=6",
                "--set", "loop.batch_size=2", "--set", "loop.learning_rate=0.0003", *w.tracking]

    def grpo(out):
        return ["grpo_speechllm", "--sft", str(w.sft), "--manifest", str(w.train), "--vocabulary", str(w.words),
                "--frames", str(w.frames), "--out", str(out), "--set", f"lm={w.lm}", "--set", "num_generations=2",
                "--set", "prompts_per_step=1", "--set", "max_steps=12", "--set", "save_steps=1",
                "--set", "max_completion_length=6", *w.tracking]

    # train.json's resumed_from_<unit> says where a run started: the one field (besides timings)
    # in which a resumed run's outputs differ from an uninterrupted run's
    return {
        "train_asr": TrainingStage(
            "train_asr", asr, lambda out: checkpoint_progress(out, "step"), 12, "step", (5, 10),
            ("adapter", "train.json"),
            lambda out: {**tree(out / "adapter"),
                         "train.json": summary_without(out / "train.json", "resumed_from_step")}),
        "train_retriever": TrainingStage(
            "train_retriever", retriever, lambda out: checkpoint_progress(out, "step"), 24, "step",
            (5, 16), ("retriever.safetensors", "retriever.json", "train.json"),
            lambda out: {**tree(out, lambda p: p.name == "train.json"),
                         "train.json": summary_without(out / "train.json", "train_seconds", "resumed_from_step")}),
        "sft_speechllm": TrainingStage(
            "sft_speechllm", lambda out: sft_argv(w, out), lambda out: checkpoint_progress(out, "step"),
            12, "step", (5, 10), ("model", "train.json"),
            lambda out: {**tree(out / "model"),
                         "train.json": summary_without(out / "train.json", "train_seconds", "resumed_from_step")}),
        "grpo_speechllm": TrainingStage(
            "grpo_speechllm", grpo, lambda out: trainer_progress(out), 12, "step", (9, 10), ("model", "train.json"),
            lambda out: {**tree(out / "model"),
                         "train.json": summary_without(out / "train.json", "train_seconds", "resumed_from_step",
                                                       "step_time")}),
    }


@pytest.fixture(scope="session")
def stages(workspace) -> dict[str, TrainingStage]:
    return training_stages(workspace)


@pytest.fixture(scope="session")
def uninterrupted(workspace, stages, tmp_path_factory):
    """The result of each training stage run from start to end (once a session, on demand)."""
    done: dict[str, dict] = {}

    def result(name: str) -> dict:
        if name not in done:
            out = tmp_path_factory.mktemp(f"uninterrupted-{name}") / "out"
            code, err = in_process(stages[name].argv(out))
            assert code == 0, err
            done[name] = stages[name].result(out)
        return done[name]

    return result


@dataclass(frozen=True)
class Interrupted:
    out: Path  # the killed run's output directory (its resume state is beside it)
    target: int
    reached: int

    def copy_state(self, out: Path) -> Path:
        """The killed run's resume state, copied beside ``out`` (the output itself is not: dvc
        repro deletes a stage's outputs before it reruns the stage); returns the copy's
        fingerprint directory."""
        from workbench.data.resume import resume_root

        shutil.copytree(resume_root(self.out), resume_root(out))
        return resume_dir(out)


@pytest.fixture(scope="session")
def interrupted(stages, tmp_path_factory):
    """Each training stage killed -9 at its seeded step (once a session, on demand); tests work on copies."""
    done: dict[str, Interrupted] = {}

    def state(name: str) -> Interrupted:
        if name not in done:
            stage = stages[name]
            out = tmp_path_factory.mktemp(f"killed-{name}") / "out"
            target = seeded_step(name, *stage.kill)
            reached = kill_at(stage.argv(out), out.parent / "killed.log", stage.progress(out), target)
            done[name] = Interrupted(out, target, reached)
        return done[name]

    return state
