"""lab's two shared helpers (device, generator) and its argument checks."""

from __future__ import annotations

import math

import pytest
import torch

import lab
from lab import _checks


def test_device_defaults_to_cpu_without_accelerators(monkeypatch):
    monkeypatch.delenv(lab.DEVICE_ENV, raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available() and torch.backends.mps.is_available():
        expected = "mps"
    assert lab.device().type == expected


def test_device_environment_variable_overrides(monkeypatch):
    monkeypatch.setenv(lab.DEVICE_ENV, "cpu")
    assert lab.device() == torch.device("cpu")
    assert lab.device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("bad", ["gpu0", "nonsense"])
def test_device_rejects_unknown_names(bad):
    with pytest.raises(ValueError, match="device"):
        lab.device(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present")
def test_device_rejects_cuda_when_absent():
    with pytest.raises(ValueError, match="CUDA is not available"):
        lab.device("cuda")


def test_generator_is_reproducible_and_independent_of_global_state():
    a = torch.randn(5, generator=lab.generator(3))
    torch.manual_seed(123)
    b = torch.randn(5, generator=lab.generator(3))
    assert torch.equal(a, b)
    assert not torch.equal(a, torch.randn(5, generator=lab.generator(4)))


@pytest.mark.parametrize("bad", [-1, 1.5, "1", True])
def test_generator_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="seed"):
        lab.generator(bad)


def test_seed_everything_seeds_torch():
    lab.seed_everything(7)
    a = torch.rand(3)
    lab.seed_everything(7)
    assert torch.equal(a, torch.rand(3))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: _checks.positive("lr", 0), "lr must be > 0"),
        (lambda: _checks.positive("lr", math.nan), "lr must be finite"),
        (lambda: _checks.nonnegative("eps", -1e-9), "eps must be >= 0"),
        (lambda: _checks.integer_at_least("N", 0, 1), "N must be an integer >= 1"),
        (lambda: _checks.integer_at_least("N", 2.5, 1), "N must be an integer >= 1"),
        (
            lambda: _checks.real_in("lr", 2.0, 0, 2, high_open=True),
            r"lr must be in \[0, 2\)",
        ),
        (lambda: _checks.real_in("x", "a"), "x must be a real number"),
    ],
)
def test_checks_name_the_parameter_and_range(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_checks_return_converted_values():
    assert _checks.integer_at_least("B", 4.0) == 4
    assert isinstance(_checks.positive("lr", 1), float)
