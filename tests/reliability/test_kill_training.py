"""kill -9 each training stage at a seeded step, delete its output as ``dvc repro`` does before it
reruns a stage, rerun the same command: it resumes from the checkpoint kept beside the output
(``<out>.resume/<fingerprint>/``) and ends with the weights and metrics of an uninterrupted run,
bit for bit (one torch thread; see conftest). A rerun with another configuration starts afresh."""

from __future__ import annotations

import json

import pytest

from workbench.data.resume import resume_root

from .conftest import in_process, resume_dir, run, temporaries

pytestmark = pytest.mark.reliability


@pytest.mark.parametrize("name", ["train_asr", "train_retriever", "sft_speechllm", "grpo_speechllm"])
def test_killed_training_resumes_under_dvc_repro(name, stages, interrupted, uninterrupted, fault, tmp_path):
    stage, killed = stages[name], interrupted(name)
    fault.inject("kill -9 (training)", f"{name} at {stage.unit} {killed.reached} of {stage.total} "
                                       f"(seeded {killed.target}), output deleted")
    # what the kill left: no final output, a resumable checkpoint beside the output directory
    fault.lost([killed.out / final for final in stage.finals if (killed.out / final).exists()])
    out = tmp_path / "out"
    killed.copy_state(out)  # and not the output directory: dvc repro deletes it before the rerun
    assert not out.exists() and stage.progress(out)() == killed.reached

    code, log = run(stage.argv(out), tmp_path / "resume.log")
    assert code == 0, log[-3000:]
    assert f"resuming from {stage.unit} {killed.reached} of {stage.total}" in log, log[-3000:]
    assert json.loads((out / "train.json").read_text())[f"resumed_from_{stage.unit}"] == killed.reached
    resumed, reference = stage.result(out), uninterrupted(name)
    assert resumed.keys() == reference.keys()
    for key in reference:
        assert resumed[key] == reference[key], f"{name}: {key} differs from the uninterrupted run"
    assert not temporaries(out)
    assert not resume_root(out).exists()  # complete: the resume state (and the killed writer's leftovers) is gone
    fault.recovered()


def test_changed_config_does_not_resume(stages, interrupted, uninterrupted, fault, tmp_path):
    """One epoch instead of three: a resume of the killed 3-epoch state (past step 4) would 'finish'
    at once with its weights; the rerun must train its 4 steps from the start under its own
    fingerprint, and leave the other configuration's state to a rerun of that configuration."""
    stage, killed = stages["train_asr"], interrupted("train_asr")
    out = tmp_path / "out"
    theirs = killed.copy_state(out)
    argv = stage.argv(out)
    argv[argv.index("loop.epochs=3")] = "loop.epochs=1"
    fault.inject("changed config", f"train_asr killed at step {killed.reached}: rerun with loop.epochs=1, then 3")

    code, log = run(argv, tmp_path / "changed.log")
    assert code == 0, log[-3000:]
    assert "resuming from" not in log, log[-3000:]
    summary = json.loads((out / "train.json").read_text())
    assert summary["steps"] == 4 and summary["resumed_from_step"] == 0
    assert resume_dir(out) == theirs and stage.progress(out)() == killed.reached  # the other state, untouched
    reference = tmp_path / "reference"
    code, err = in_process([str(reference) if a == str(out) else a for a in argv])
    assert code == 0, err
    assert stage.result(out) == stage.result(reference)  # the changed configuration, uninterrupted
    assert not resume_root(reference).exists()

    code, err = in_process(stage.argv(out))  # back to the killed run's configuration: its state resumes
    assert code == 0, err
    assert json.loads((out / "train.json").read_text())["resumed_from_step"] == killed.reached
    assert stage.result(out) == uninterrupted("train_asr")
    assert not resume_root(out).exists()
    fault.recovered()
