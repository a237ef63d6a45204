"""Data parallel for real: K = 2 gloo workers on loopback equal one process with 2B.

The workers are spawned with ``torch.multiprocessing.spawn`` and join a process group
through a file (nothing leaves the machine); each test is bounded by the group's
timeout. Per-example gradients (``torch.func``) are checked against a loop first.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.multiprocessing as mp

from lab import distributed, optim, train

B = 16  # examples per worker
K = 2  # workers
STEPS = 6
OPTIMIZERS = [
    {"name": "SGD", "lr": 0.1},
    {"name": "Momentum", "lr": 0.05, "N": 10},
    {"name": "Adam", "lr": 1e-2},
    {"name": "SNR", "batch_size": K * B, "lambda_eta": 0.5, "K": 2},
    {
        "name": "SNR",
        "batch_size": K * B,
        "lambda_eta": 0.5,
        "K": 2,
        "second_moment": "examples",
    },
]
JOB = {"hidden": 8, "seed": 3, "steps": STEPS, "global_batch": K * B, "timeout": 30}
TIMED = {"time_steps": 5}


def cross_entropy(out, target):
    return torch.nn.functional.cross_entropy(out, target)


@pytest.fixture(scope="module")
def digits():
    return train.load_digits(dtype=torch.float64)


def test_per_example_gradients_equal_a_loop_over_examples(digits):
    net = train.make_model(8, torch.Generator().manual_seed(0), dtype=torch.float64)
    X, y = digits.X_train[:12], digits.y_train[:12]
    fast = distributed.per_example_gradients(net, cross_entropy, X, y)
    for b in range(12):
        net.zero_grad()
        cross_entropy(net(X[b : b + 1]), y[b : b + 1]).backward()
        for name, p in net.named_parameters():
            torch.testing.assert_close(fast[name][b], p.grad, rtol=0, atol=1e-14)


def test_second_moment_backward_sets_the_batch_mean_and_mean_square(digits):
    net = train.make_model(8, torch.Generator().manual_seed(0), dtype=torch.float64)
    X, y = digits.X_train[:20], digits.y_train[:20]
    net.zero_grad()
    cross_entropy(net(X), y).backward()
    reference = [p.grad.clone() for p in net.parameters()]
    per = distributed.per_example_gradients(net, cross_entropy, X, y)
    distributed.backward_with_second_moment(net, cross_entropy, X, y)
    for (name, p), g in zip(net.named_parameters(), reference):
        torch.testing.assert_close(p.grad, g, rtol=0, atol=1e-15)
        torch.testing.assert_close(p.grad_sq, per[name].square().mean(0))


def test_bad_batches_get_clear_errors(digits):
    net = train.make_model(0, dtype=torch.float64)
    X, y = digits.X_train[:4], digits.y_train[:4]
    with pytest.raises(ValueError, match="same number of examples"):
        distributed.per_example_gradients(net, cross_entropy, X, y[:3])
    with pytest.raises(TypeError, match="model"):
        distributed.per_example_gradients("net", cross_entropy, X, y)
    with pytest.raises(ValueError, match="X must be finite"):
        distributed.per_example_gradients(net, cross_entropy, X * math.nan, y)


def single_process(digits, spec):
    """The reference: one process, one model, the whole global batch."""
    net = train.make_model(
        JOB["hidden"], torch.Generator().manual_seed(JOB["seed"]), dtype=torch.float64
    )
    spec = dict(spec)
    opt = getattr(optim, spec.pop("name"))(net.parameters(), **spec)
    distributed.data_parallel_train(
        net,
        opt,
        digits.X_train,
        digits.y_train,
        steps=STEPS,
        global_batch=K * B,
        generator=torch.Generator().manual_seed(JOB["seed"] + 1),
        second_moment=spec.get("second_moment") == "examples",
    )
    return [p.detach() for p in net.parameters()]


def spawn(tmp_path, job):
    out = tmp_path / "result.pt"
    mp.spawn(
        distributed.digits_worker,
        args=(K, str(tmp_path / "init"), job, str(out)),
        nprocs=K,
        join=True,
    )
    return torch.load(out)


def test_two_workers_equal_one_process_with_twice_the_batch(tmp_path, digits):
    results = spawn(tmp_path, {**JOB, **TIMED, "optimizers": OPTIMIZERS})
    assert set(results) == {
        "SGD",
        "Momentum",
        "Adam",
        "SNR",
        "SNR/examples",
        "timing",
    }
    for spec in OPTIMIZERS:
        key = spec["name"] + (
            "/examples" if spec.get("second_moment") == "examples" else ""
        )
        ref = single_process(digits, spec)
        for got, want in zip(results[key]["params"], ref):
            assert not torch.equal(want, want * 0)  # trained, not zero
            torch.testing.assert_close(got, want, rtol=0, atol=1e-12, msg=key)
    timing = results["timing"]
    assert timing["compute"] > 0 and timing["allreduce"] > 0
    assert timing["local_batch"] == B


def test_a_failing_worker_ends_the_group_with_its_error(tmp_path):
    import time

    start = time.monotonic()
    with pytest.raises(Exception, match="worker 1 failed on purpose"):
        spawn(tmp_path, {**JOB, "optimizers": OPTIMIZERS[:1], "fail_rank": 1})
    assert time.monotonic() - start < 60


def test_ring_allreduce_model():
    # one worker sends nothing; many send twice the message
    assert distributed.ring_allreduce_seconds(1e9, 1, 1e10) == 0
    assert distributed.ring_allreduce_seconds(1e9, 2, 1e10) == pytest.approx(0.1)
    assert distributed.ring_allreduce_seconds(1e9, 10**6, 1e10) == pytest.approx(
        0.2, rel=1e-5
    )
    compute, comm = distributed.step_seconds(1e-4, 32, 1e6, 8, 1e9, 1e-5)
    assert compute == pytest.approx(3.2e-3)
    assert comm == pytest.approx(2 * 7 / 8 * 1e-3 + 14e-5)
    with pytest.raises(ValueError, match="workers"):
        distributed.ring_allreduce_seconds(1e9, 0, 1e10)
    with pytest.raises(ValueError, match="bandwidth"):
        distributed.ring_allreduce_seconds(1e9, 2, 0)
