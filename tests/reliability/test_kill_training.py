"""kill -9 each training stage at a seeded step, rerun the same command: the final weights and
metrics equal an uninterrupted run's, bit for bit (one torch thread; see conftest)."""

from __future__ import annotations

import shutil

import pytest

from .conftest import run, temporaries

pytestmark = pytest.mark.reliability


@pytest.mark.parametrize("name", ["train_asr", "train_retriever", "sft_speechllm", "grpo_speechllm"])
def test_killed_training_resumes_to_the_uninterrupted_result(name, stages, interrupted, uninterrupted, fault, tmp_path):
    stage, killed = stages[name], interrupted(name)
    fault.inject("kill -9 (training)", f"{name} at {stage.unit} {killed.reached} of {stage.total} (seeded {killed.target})")
    out = tmp_path / "out"
    shutil.copytree(killed.out, out)
    # what the kill left: resumable checkpoints and marked temporaries, no final output
    assert stage.progress(out)() == killed.reached
    fault.lost([out / final for final in stage.finals if (out / final).exists()])

    code, log = run(stage.argv(out), tmp_path / "resume.log")
    assert code == 0, log[-3000:]
    resumed, reference = stage.result(out), uninterrupted(name)
    assert resumed.keys() == reference.keys()
    for key in reference:
        assert resumed[key] == reference[key], f"{name}: {key} differs from the uninterrupted run"
    assert not temporaries(out)  # the rerun swept the killed writer's leftovers
    fault.recovered()
