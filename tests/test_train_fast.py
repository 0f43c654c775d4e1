"""The Train tab's speed-ups keep what is trained: data drawn once, channels_last, runs from the lesson's worker."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
import torch

import pinit
from pinit.lab import lesson
from pinit.lab.data import make_dataset
from pinit.lab.training import TRAIN_CONFIG, TrainRun, train_data, train_run
from tests.app_driver import frame, start


def test_train_data_is_drawn_once_and_is_make_dataset_in_channels_last():
    a = train_data(300, 100, 0.5, 3)
    assert train_data(300, 100, 0.5, 3) is a  # the same tensors for every caller: drawn once per process
    (images, labels), (test_images, test_labels) = a
    (x, y), (tx, ty) = make_dataset(300, seed=3, noise=0.5), make_dataset(100, seed=4, noise=0.5)
    assert images.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous(
        memory_format=torch.channels_last
    )
    assert (
        torch.equal(images, x)
        and torch.equal(labels, y)
        and torch.equal(test_images, tx)
        and torch.equal(test_labels, ty)
    )


def test_a_run_is_the_same_from_nchw_or_channels_last_data_and_learns_like_the_nchw_loop():
    """Given NCHW data (a caller's own), train_run trains on the same values in channels_last: the same run
    bit for bit as from train_data's sets; against the plain NCHW loop only float rounding differs."""
    nhwc = train_data(256, 100, 1.0)
    (x, y), (tx, ty) = nhwc
    nchw = ((x.contiguous(), y), (tx.contiguous(), ty))
    plan = pinit.PRESETS["Kaiming (He)"].plan
    a = train_run(plan, seed=1, steps=4, data=nhwc)
    b = train_run(plan, seed=1, steps=4, data=nchw)
    assert a.log["loss"].tolist() == b.log["loss"].tolist() and a.test_loss == b.test_loss
    assert a.conv1 is not None and a.conv1.flags["C_CONTIGUOUS"] and a.conv1.shape == (32, 3, 3, 3)
    model = pinit.build_model("SimpleCNN", seed=1)
    pinit.apply_plan(model, plan, 1)
    old = pinit.lab.train.train(model, nchw[0][0], y, steps=4, batch_size=TRAIN_CONFIG.batch_size, seed=1)
    np.testing.assert_allclose(a.log["loss"], old["loss"], rtol=1e-5)
    assert a.log["accuracy"].tolist() == old["accuracy"].tolist()


def test_ready_never_waits_and_gives_the_arrived_value(monkeypatch):
    key = ("training_story", ())
    event = threading.Event()
    monkeypatch.setitem(lesson._ARRIVED, key, event)
    monkeypatch.setitem(lesson._FROM_WORKER, key, "the story")
    assert lesson.ready("training_story") is None  # not arrived yet: None at once, nothing computed
    event.set()
    assert lesson.ready("training_story") == "the story"
    assert lesson.ready("no such story") is None


def _fake_run(seconds: float) -> TrainRun:
    log = pd.DataFrame({"step": [1, 2], "loss": [2.3, 2.2], "accuracy": [0.1, 0.2], "running_accuracy": [0.1, 0.15]})
    log.attrs["stop_reason"] = "completed"
    return TrainRun(log, "completed", seconds, 0.5, 1.5, 0.1, None)


@pytest.fixture
def worker_story(monkeypatch):
    """A training story as the lesson's worker would send it, marked as arrived; each run's `seconds` says which."""
    seeds = lesson.TRAIN_SEEDS
    by_seed = {
        name: tuple(_fake_run(1000 + 10 * i + s) for s in seeds) for i, name in enumerate(lesson.LESSON_TRAIN_PLANS)
    }
    story = lesson.TrainingStory(lesson.LESSON_TRAIN, {n: r[0] for n, r in by_seed.items()}, 0.0, tuple(seeds), by_seed)
    key = ("training_story", ())
    event = threading.Event()
    event.set()
    monkeypatch.setitem(lesson._ARRIVED, key, event)
    monkeypatch.setitem(lesson._FROM_WORKER, key, story)
    return story


def test_lesson_run_matches_plan_seed_and_steps_only(worker_story):
    from pinit.dashboard.train_view import _lesson_run

    steps = lesson.LESSON_TRAIN.steps
    kaiming = pinit.PRESETS["Kaiming (He)"].plan
    assert _lesson_run(kaiming, 2, steps) is worker_story.runs_by_seed["Kaiming (He)"][2]
    assert _lesson_run(pinit.PRESETS["Article recipe"].plan, 0, steps).seconds == 1020
    assert _lesson_run(kaiming, 2, steps + 1) is None  # another step count is another run
    assert _lesson_run(kaiming, max(lesson.TRAIN_SEEDS) + 1, steps) is None  # a seed the lesson did not train
    assert _lesson_run(pinit.PRESETS["Xavier (Glorot)"].plan, 0, steps) is None  # a plan it did not train


def test_lesson_run_is_none_before_the_story_arrives(monkeypatch):
    from pinit.dashboard.train_view import _lesson_run

    monkeypatch.setitem(lesson._ARRIVED, ("training_story", ()), threading.Event())
    assert _lesson_run(pinit.PRESETS["Kaiming (He)"].plan, 0, lesson.LESSON_TRAIN.steps) is None


def test_the_train_tab_shows_the_workers_runs_without_training(worker_story):
    at = start("Train")
    at.multiselect(key="train.plans").set_value(["Kaiming (He)", "PyTorch default"]).run()
    at.select_slider(key="train.steps").set_value(lesson.LESSON_TRAIN.steps).run()
    at.button(key="train.go").click().run()
    assert not at.exception and not at.error
    r = frame(at, "held-out accuracy").set_index("plan")
    # The worker's runs, by their seconds (1000 + 10 * plan index + seed, seed 0): nothing was trained here.
    assert r.loc["Kaiming (He)", "seconds"] == 1000 and r.loc["PyTorch default", "seconds"] == 1010
    assert (r["status"] == "completed").all() and (r["steps"] == 2).all()
