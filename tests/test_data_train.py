"""pinit.data (the synthetic gratings) and pinit.train (the short SGD run)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import pinit
from pinit.lab.data import CLASS_NAMES, make_dataset
from pinit.lab.train import evaluate, train


class Tiny(nn.Module):
    """A 3x32x32 -> 10 model that trains in milliseconds: 4x4 average pooling, then Linear."""

    input_shape = (3, 32, 32)
    num_classes = 10

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(4)
        self.fc = nn.Linear(3 * 8 * 8, 10)
        pinit.apply_plan(
            self, {"rules": {"Linear": {"weight": {"scheme": "xavier_normal"}, "bias": {"scheme": "zeros"}}}}, seed
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(x).flatten(1))


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor]:
    return make_dataset(600, seed=0, noise=0.5)


# ---------------------------------------------------------------- data


def test_dataset_shapes_balance_and_scale() -> None:
    state = torch.get_rng_state()
    images, labels = make_dataset(1000, seed=0)
    assert torch.equal(torch.get_rng_state(), state)
    assert images.shape == (1000, 3, 32, 32) and images.dtype == torch.float32
    assert labels.shape == (1000,) and labels.dtype == torch.int64
    assert torch.bincount(labels, minlength=10).tolist() == [100] * 10
    assert abs(float(images.mean())) < 0.01
    assert float(images.std()) == pytest.approx(1.0, abs=0.03)
    assert len(CLASS_NAMES) == 10 and CLASS_NAMES[0] == "0 deg, 3 cycles" and CLASS_NAMES[9] == "144 deg, 5 cycles"


@pytest.mark.parametrize("noise", [0.0, 2.0])
def test_dataset_is_unit_std_at_any_noise(noise: float) -> None:
    images, _ = make_dataset(500, seed=1, noise=noise)
    assert float(images.std()) == pytest.approx(1.0, abs=0.05)


def test_dataset_is_deterministic() -> None:
    a = make_dataset(50, seed=3)
    b = make_dataset(50, seed=3)
    c = make_dataset(50, seed=4)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_clean_classes_are_gratings_of_their_own_orientation() -> None:
    # Without noise every image of a class is one grating: its 2-D spectrum peaks at the
    # class's frequency (3 or 5 cycles per image, +-0.3 jitter) along the class's direction.
    images, labels = make_dataset(40, seed=0, noise=0.0)
    for img, label in zip(images, labels.tolist()):
        spectrum = torch.fft.fft2(img.double().mean(0)).abs()
        spectrum[0, 0] = 0
        ky, kx = divmod(int(spectrum.argmax()), 32)
        ky, kx = (ky + 16) % 32 - 16, (kx + 16) % 32 - 16  # signed frequencies
        assert math.hypot(kx, ky) == pytest.approx(3 if label < 5 else 5, abs=1.0)
        angle = math.degrees(math.atan2(ky, kx)) % 180
        expected = (label % 5) * 36
        assert min(abs(angle - expected), 180 - abs(angle - expected)) < 20


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "n must be a whole number"),
        ({"n": 2.5}, "n must be a whole number"),
        ({"n": 10, "noise": -1}, "noise must be a number from 0 to 100"),
        ({"n": 10, "seed": -1}, "seed must be a whole number"),
    ],
)
def test_dataset_refuses_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_dataset(**kwargs)


# ---------------------------------------------------------------- train


def test_train_log_is_reproducible_and_global_rng_untouched(data) -> None:
    images, labels = data
    models = [Tiny(), Tiny(), Tiny()]  # nn.Linear's constructor draws from the global RNG; train must not
    state = torch.get_rng_state()
    a = train(models[0], images, labels, steps=15, batch_size=32, lr=0.01, seed=1)
    b = train(models[1], images, labels, steps=15, batch_size=32, lr=0.01, seed=1)
    c = train(models[2], images, labels, steps=15, batch_size=32, lr=0.01, seed=2)
    assert torch.equal(torch.get_rng_state(), state)
    assert list(a.columns) == ["step", "loss", "accuracy", "running_accuracy"]
    assert a["step"].tolist() == list(range(1, 16))
    assert a["loss"].tolist() == b["loss"].tolist()
    assert a["loss"].tolist() != c["loss"].tolist()  # another data order
    assert a.attrs["stop_reason"] == "completed" and a.attrs["lr"] == 0.01 and a.attrs["seconds"] > 0
    assert a["running_accuracy"].iloc[4] == pytest.approx(a["accuracy"].iloc[:5].mean())


def test_train_learns_and_evaluate_agrees(data) -> None:
    images, labels = data
    model = Tiny()
    before = evaluate(model, images, labels)
    log = train(model, images, labels, steps=150, batch_size=64, lr=0.01)
    after = evaluate(model, images, labels)
    assert after["loss"] < before["loss"] - 0.3
    assert after["accuracy"] > before["accuracy"] + 0.1
    assert log["loss"].iloc[-10:].mean() < log["loss"].iloc[:10].mean()


def test_train_visits_every_example_once_per_epoch(data) -> None:
    images, labels = data
    seen = []

    class Spy(Tiny):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x[:, 0, 0, 0].clone())
            return super().forward(x)

    train(Spy(), images[:100], labels[:100], steps=5, batch_size=20)
    firsts = torch.cat(seen)
    assert sorted(firsts.tolist()) == sorted(images[:100, 0, 0, 0].tolist())


def test_callback_and_stop_button(data) -> None:
    images, labels = data
    calls = []
    polls = []

    def should_stop() -> bool:
        polls.append(1)
        return len(polls) > 4

    log = train(
        Tiny(),
        images,
        labels,
        steps=50,
        batch_size=16,
        callback=lambda step, loss, acc: calls.append((step, loss, acc)),
        should_stop=should_stop,
    )
    assert len(log) == 4 and log.attrs["stop_reason"] == "stopped"
    assert [c[0] for c in calls] == [1, 2, 3, 4]
    assert [c[1] for c in calls] == log["loss"].tolist()
    assert all(0 <= c[2] <= 1 for c in calls)


def test_exploding_init_stops_gracefully(data) -> None:
    # SimpleCNN with N(0, 1) everywhere: logits of std ~7e6, first loss ~1e7, then the
    # update blows it up to ~1e21 and inf. The run records the inf and stops, no exception.
    images, labels = data
    model = pinit.build_model("SimpleCNN", seed=0)
    pinit.apply_plan(model, pinit.PRESETS["Too large: N(0, 1)"].plan, seed=0)
    calls = []
    log = train(model, images, labels, steps=100, batch_size=16, callback=lambda *a: calls.append(a))
    assert log.attrs["stop_reason"] == "non-finite loss"
    assert len(log) < 10 and len(calls) == len(log)
    assert not math.isfinite(log["loss"].iloc[-1]) and log["loss"].iloc[:-1].map(math.isfinite).all()
    assert log["loss"].iloc[0] > 1e4
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.isfinite(p).all() for p in model.parameters())  # no step was taken on the inf loss


def test_train_restores_modes_and_leaves_no_grads(data) -> None:
    images, labels = data
    model = Tiny().eval()
    train(model, images, labels, steps=2, batch_size=8)
    assert not model.training and not model.fc.training
    assert all(p.grad is None for p in model.parameters())


def test_train_works_under_no_grad(data) -> None:
    """A caller's torch.no_grad() (a notebook cell, the page) changes nothing: same losses, same weights."""
    images, labels = data
    free, inside = Tiny(), Tiny()
    start = inside.fc.weight.detach().clone()
    expected = train(free, images, labels, steps=3, batch_size=8)
    with torch.no_grad():
        log = train(inside, images, labels, steps=3, batch_size=8)
    assert log["loss"].tolist() == expected["loss"].tolist()
    assert log["loss"].map(math.isfinite).all() and log["loss"].iloc[0] > 0
    assert torch.equal(inside.fc.weight, free.fc.weight) and torch.equal(inside.fc.bias, free.fc.bias)
    assert not torch.equal(inside.fc.weight, start)  # the steps were really taken


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 0}, "steps must be a whole number"),
        ({"batch_size": 0}, "batch_size must be a whole number"),
        ({"lr": 0}, "lr must be in"),
        ({"lr": math.nan}, "lr must be a finite number"),
        ({"momentum": 1.0}, "momentum must be in"),
        ({"seed": -1}, "seed must be a whole number"),
    ],
)
def test_train_refuses_bad_arguments(data, kwargs: dict, message: str) -> None:
    images, labels = data
    with pytest.raises(ValueError, match=message):
        train(Tiny(), images, labels, **kwargs)


def test_train_refuses_data_that_does_not_fit(data) -> None:
    images, labels = data
    with pytest.raises(ValueError, match=r"takes inputs of shape \(3, 32, 32\), got \(3, 16, 16\)"):
        train(Tiny(), images[:, :, :16, :16], labels)
    with pytest.raises(ValueError, match="same n"):
        train(Tiny(), images, labels[:10])
    with pytest.raises(ValueError, match="labels must lie in 0..9"):
        train(Tiny(), images[:2], torch.tensor([0, 10]))
    with pytest.raises(ValueError, match="labels must be int64"):
        train(Tiny(), images[:2], torch.tensor([0, 1], dtype=torch.int32))


def test_simple_cnn_trains_on_the_default_task_briefly(data) -> None:
    # A smoke test of the real pair at the page's defaults (lr, momentum, noise), 5 steps.
    images, labels = make_dataset(64, seed=0)
    model = pinit.build_model("SimpleCNN", seed=0)
    pinit.apply_plan(model, pinit.PRESETS["Kaiming (He)"].plan, seed=0)
    log = train(model, images, labels, steps=5, batch_size=16)
    assert len(log) == 5 and log["loss"].map(math.isfinite).all()
