"""Issue 10 scale-out paths, for real on this machine: a shared `mlflow server` (sqlite backend) on
127.0.0.1, a DVC remote round trip (push, fresh clone, pull, status clean), and the training loop
data parallel under `accelerate launch` (two gloo processes; the SFT stage's own multi-process run
is in test_speechllm.py)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import REPO
from loop_toy import SETTINGS, Toy, ToyTask, trained
from workbench.tracking import make_logger, tracked_run
from workbench.training.loop import run_training

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def mlflow_server(tmp_path):
    port = _free_port()
    process = subprocess.Popen(
        [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "artifacts")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.5)
    else:
        pytest.fail("mlflow server did not start within 120 s")
    yield url
    os.killpg(process.pid, 15)
    process.wait(timeout=30)


def test_runs_log_to_a_real_mlflow_server(mlflow_server, tmp_path):
    from mlflow.tracking import MlflowClient

    artifact = tmp_path / "table.md"
    artifact.write_text("| a | b |\n")
    logger = make_logger("mlflow", "scale-out", "server-run", mlflow_server, tags={"stage": "test"})
    with tracked_run(logger, {"section": {"x": 1}}):
        logger.log_metrics({"own/phonetic/exact@1_recall": 0.5, "wer": 0.25}, step=1)
        logger.log_artifact(artifact)
    client = MlflowClient(mlflow_server)
    run = client.get_run(logger.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics == {"own/phonetic/exact_at_1_recall": 0.5, "wer": 0.25}
    assert run.data.params["section.x"] == "1"
    assert "table.md" in {a.path for a in client.list_artifacts(logger.run_id)}


def _run(args, cwd):
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True,
                            env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                                 "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
                                 "PATH": f"{BIN}:{os.environ['PATH']}"})
    assert result.returncode == 0, f"{args}: {result.stdout[-1500:]}{result.stderr[-1500:]}"
    return result.stdout


def test_dvc_remote_round_trip(tmp_path):
    project, remote, clone = tmp_path / "project", tmp_path / "remote", tmp_path / "clone"
    project.mkdir()
    _run(["git", "init", "-q"], project)
    _run(["dvc", "init", "-q"], project)
    (project / "words.txt").write_text("Ponyo\nXarelto\n")
    (project / "dvc.yaml").write_text(
        "stages:\n  upper:\n    cmd: python -c \"import pathlib; p = pathlib.Path('out'); p.mkdir(exist_ok=True); "
        "(p / 'upper.txt').write_text(pathlib.Path('words.txt').read_text().upper())\"\n"
        "    deps: [words.txt]\n    outs: [out]\n")
    _run(["dvc", "repro", "-q"], project)
    _run(["dvc", "remote", "add", "-d", "local", str(remote)], project)
    _run(["git", "add", "-A"], project)
    _run(["git", "commit", "-qm", "pipeline"], project)
    _run(["dvc", "push", "-q"], project)
    _run(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    assert not (clone / "out").exists()
    _run(["dvc", "pull", "-q"], clone)
    assert (clone / "out" / "upper.txt").read_text() == "PONYO\nXARELTO\n"
    status = _run(["dvc", "status"], clone)
    assert "up to date" in status.lower() or status.strip() == ""


LAUNCHED = """
import json, sys
from pathlib import Path

import torch
from accelerate import PartialState

from loop_toy import SETTINGS, Toy, ToyTask, trained
from workbench.training.loop import Callbacks, run_training

torch.set_num_threads(1)
out = Path(sys.argv[1])
model = Toy(dropout=0.0)
steps = []
callbacks = Callbacks(on_step=lambda metrics, step: steps.append(step))
result = run_training(model, ToyTask(model), SETTINGS, out / "state", callbacks)
rank = PartialState().process_index
(out / f"rank{rank}.json").write_text(json.dumps({"weights": {k: v.tolist() for k, v in trained(model).items()},
                                                  "steps": steps, "done": result.steps}))
"""


def test_the_training_loop_is_data_parallel_under_accelerate_launch(tmp_path):
    """Two processes each take their share of every global batch (3 points: 2 + 1): both ranks end
    with the same weights, those of one process training on the whole batches (up to rounding);
    only rank 0 reports steps and writes the checkpoint."""
    script = tmp_path / "launched.py"
    script.write_text(LAUNCHED)
    command = [str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", str(script), str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{REPO}:{REPO / 'tests'}"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["weights"] == ranks[1]["weights"]  # the same update on both ranks, bit for bit
    assert ranks[0]["steps"] == list(range(1, 13)) and ranks[1]["steps"] == [] and ranks[1]["done"] == 12
    assert (tmp_path / "state" / "checkpoint.pt").exists()

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = Toy(dropout=0.0)
        run_training(single, ToyTask(single), SETTINGS, tmp_path / "single")
    finally:
        torch.set_num_threads(threads)
    for name, value in trained(single).items():
        assert torch.allclose(torch.tensor(ranks[0]["weights"][name]), value, atol=1e-5), name
