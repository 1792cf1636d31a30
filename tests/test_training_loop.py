"""The training loop (workbench.training.loop) on a toy task: a run stopped mid-epoch and resumed
ends bit-identical to an uninterrupted one (weights, metrics, task state, both RNGs), loss parts
are weighted by the loop, callbacks come in their documented order, gradient accumulation is the
mean over micro-batches, the one checkpoint format refuses another model's checkpoint; the three
trainings' loop configs validate themselves."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from loop_toy import SETTINGS, Toy, ToyTask, trained
from workbench.errors import CheckpointError
from workbench.retrieval.training import RetrieverLoopConfig
from workbench.speechllm.training import SFTLoopConfig
from workbench.training.checkpoint import CHECKPOINT, KEYS, read_checkpoint
from workbench.training.loop import Callbacks, _share, linear_schedule, run_training
from workbench.training.trainer import LoopConfig


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: CPU reductions are then bit-reproducible run to run."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _run(directory, settings=SETTINGS, events=None, **kwargs):
    model = Toy()
    task = ToyTask(model, **kwargs.pop("task", {}))
    events = [] if events is None else events
    callbacks = Callbacks(on_step=lambda metrics, step: events.append(("step", step, metrics)),
                          on_epoch_end=lambda epoch, step: events.append(("epoch_end", epoch, step, model.training)),
                          on_resume=lambda step: events.append(("resume", step)),
                          progress=lambda done, total: events.append(("progress", done, total)))
    result = run_training(model, task, settings, directory, callbacks, **kwargs)
    return model, task, result, events


def test_resume_mid_epoch_equals_the_uninterrupted_run(tmp_path):
    straight, task, result, events = _run(tmp_path / "straight")
    assert (result.steps, result.total, result.epochs, result.resumed_from) == (12, 12, 3, 0)  # 4 batches x 3 epochs
    _killed, _, stopped, first = _run(tmp_path / "resumed", stop_after=6)  # step 6: mid-epoch 1, a checkpoint step
    assert (stopped.steps, stopped.epochs) == (6, 1)
    assert read_checkpoint(tmp_path / "resumed" / CHECKPOINT, KEYS)["step"] == 6
    resumed, resumed_task, result, second = _run(tmp_path / "resumed")
    assert (result.steps, result.resumed_from) == (12, 6)
    a, b = trained(straight), trained(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)
    steps = [e for e in events if e[0] == "step"]
    assert [e for e in first + second if e[0] == "step"] == steps  # the same metrics at the same steps
    assert resumed_task.seen == task.seen == 30  # the task's state came back through the checkpoint


def test_a_stop_between_checkpoints_resumes_from_the_stop(tmp_path):
    """A stop (the tests' kill) writes a checkpoint even off the ``checkpoint_every`` grid."""
    straight, *_ = _run(tmp_path / "straight")
    _run(tmp_path / "resumed", stop_after=5)
    resumed, _, result, events = _run(tmp_path / "resumed")
    assert result.resumed_from == 5 and ("resume", 5) in events
    assert all(torch.equal(a, b) for a, b in zip(trained(straight).values(), trained(resumed).values(), strict=True))


def test_stop_after_epochs_counts_epoch_ends_of_this_call(tmp_path):
    _model, _task, result, _ = _run(tmp_path, stop_after_epochs=2)
    assert (result.steps, result.epochs) == (8, 2)
    _model, _task, result, _ = _run(tmp_path, stop_after_epochs=1)
    assert (result.resumed_from, result.steps, result.epochs) == (8, 12, 3)


def test_callbacks_come_in_order(tmp_path):
    _model, task, _result, events = _run(tmp_path / "a")
    assert events[0] == ("progress", 0, 12)
    kinds = [e[0] for e in events[1:]]
    assert kinds.count("step") == 12 and kinds.count("progress") == 12 and "resume" not in kinds
    assert [e[1] for e in events if e[0] == "step"] == list(range(1, 13))
    ends = [e for e in events if e[0] == "epoch_end"]
    assert [(e[1], e[2]) for e in ends] == [(0, 4), (1, 8), (2, 12)]
    assert not any(e[3] for e in ends)  # the model is in eval mode for the epoch's end ...
    assert all(task.modes)  # ... and back in train mode for the next loss
    step_4 = events.index(next(e for e in events if e[:2] == ("step", 4)))
    assert events[step_4 + 1] == ("progress", 4, 12) and events[step_4 + 2][:3] == ("epoch_end", 0, 4)
    metrics = events[1][2]
    assert list(metrics) == ["loss_mse", "loss_l1", "loss", "epoch", "learning_rate"]
    assert metrics["loss"] == metrics["loss_mse"] and metrics["epoch"] == 0

    _run(tmp_path / "b", stop_after=3)
    _model, _task, _result, resumed = _run(tmp_path / "b")
    assert resumed[:2] == [("progress", 3, 12), ("resume", 3)]  # the total is known when on_resume runs


def test_loss_parts_are_weighted_by_the_loop(tmp_path):
    _model, _task, _result, events = _run(tmp_path / "weighted", task={"weights": {"mse": 2.0, "l1": 0.5}},
                                          stop_after=1)
    metrics = events[1][2]
    assert metrics["loss"] == pytest.approx(2.0 * metrics["loss_mse"] + 0.5 * metrics["loss_l1"])
    # a part without weight (or weight 0) is logged only: it does not move the weights
    logged_only, *_ = _run(tmp_path / "mse", task={"weights": {"mse": 1.0}})
    zero_weight, *_ = _run(tmp_path / "zero", task={"weights": {"mse": 1.0, "l1": 0.0}})
    assert all(torch.equal(a, b) for a, b in zip(trained(logged_only).values(), trained(zero_weight).values(),
                                                 strict=True))
    with pytest.raises(KeyError, match="not computed"):
        _run(tmp_path / "typo", task={"weights": {"mse": 1.0, "mwer": 1.0}})


def test_gradient_accumulation_counts_optimizer_steps(tmp_path):
    """Micro-batches of one epoch run on into the next: 10 of them an epoch, 2 a step, 15 steps;
    an epoch ends after the step that holds its last micro-batch."""
    settings = dataclasses.replace(SETTINGS, checkpoint_every=None, gradient_accumulation=2)
    _model, _task, result, events = _run(tmp_path, settings, task={"batch_size": 1})
    assert (result.steps, result.total, result.epochs) == (15, 15, 3)
    assert [e[1:3] for e in events if e[0] == "epoch_end"] == [(0, 5), (1, 10), (2, 15)]


def test_gradient_accumulation_is_the_mean_over_micro_batches(tmp_path):
    """Two micro-batches of 1 accumulated = one batch of 2 (mean loss), up to float rounding."""

    def run(directory, batch_size, accumulation):
        model = Toy(dropout=0.0)
        settings = dataclasses.replace(SETTINGS, checkpoint_every=None, gradient_accumulation=accumulation)
        run_training(model, ToyTask(model, batch_size, noise=False), settings, directory)
        return trained(model)

    big, accumulated = run(tmp_path / "big", 2, 1), run(tmp_path / "small", 1, 2)
    assert all(torch.allclose(big[name], accumulated[name], atol=1e-6) for name in big)
    assert not all(torch.equal(big[name], run(tmp_path / "single", 1, 1)[name]) for name in big)


def test_the_share_of_each_process():
    assert _share([1, 2, 3], 0, 1) == ([1, 2, 3], 1.0)
    assert _share([1, 2, 3], 0, 2) == ([1, 3], 2 / 3) and _share([1, 2, 3], 1, 2) == ([2], 1 / 3)
    assert _share([1], 1, 2) == ([1], 0.0)  # a spare rank repeats an item that weighs nothing


def test_a_checkpoint_of_another_model_is_refused(tmp_path):
    _run(tmp_path, stop_after=2)
    state = read_checkpoint(tmp_path / CHECKPOINT, KEYS)
    assert set(state) == set(KEYS) and set(state["weights"]) == {"head.weight", "head.bias"}  # never the frozen layer

    class Wider(Toy):
        def __init__(self):
            super().__init__()
            self.extra = torch.nn.Linear(1, 1)

    model = Wider()
    with pytest.raises(CheckpointError, match="does not fit this model"):
        run_training(model, ToyTask(model), SETTINGS, tmp_path)
    (tmp_path / CHECKPOINT).write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read this checkpoint"):
        _run(tmp_path)


def test_linear_schedule_warms_up_then_decays_to_zero():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = linear_schedule(optimizer, warmup=2, total=6)
    rates = []
    for _ in range(7):
        rates.append(schedule.get_last_lr()[0])
        optimizer.step()
        schedule.step()
    assert rates == pytest.approx([1 / 3, 2 / 3, 1.0, 0.75, 0.5, 0.25, 0.0])
    assert math.isclose(rates[2], 1.0)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: LoopConfig(epochs=0), "epochs must be >= 1"),
    (lambda: LoopConfig(gradient_accumulation=0), "gradient_accumulation must be >= 1"),
    (lambda: RetrieverLoopConfig(batch_size=1), "batch_size >= 2"),
    (lambda: SFTLoopConfig(checkpoint_every=0), "checkpoint_every must be >= 1"),
    (lambda: SFTLoopConfig(learning_rate=0.0), "learning_rate must be > 0"),
])
def test_every_training_config_validates_itself(make, message):
    with pytest.raises(ValueError, match=message):
        make()
