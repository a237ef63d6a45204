"""Data-parallel SGD: per-example second moments, on one process or across M workers.

Goyal et al. trained with a batch of 8192 on 256 GPUs: each worker computes the gradient
of its own slice of the batch, and an all-reduce averages them. Averaging batch means
gives the batch mean :math:`\\hat g` of all :math:`MB` examples, which is all SGD, momentum
and Adam need. The per-parameter algorithm of Chapter 10 in its ``"examples"`` mode also
needs :math:`\\frac{1}{B}\\sum_b \\hat g_b^2`, the batch mean of *squared* per-example
gradients (the lecture's "augment backpropagation to compute an average of
:math:`g^2_{b,i}`"): a second quantity that the all-reduce of ``p.grad`` does not give.

- :func:`per_example_gradients` computes the gradient of every example at once with
  ``torch.func`` (``vmap`` over ``grad``), without a Python loop over examples;
- :func:`backward_with_second_moment` sets ``p.grad`` (the batch mean) and ``p.grad_sq``
  (the batch mean of squares) on every parameter, averaging both over the workers of
  the process group when there is one (under ``DistributedDataParallel`` DDP averages
  ``p.grad``; ``lab`` all-reduces ``p.grad_sq``);
- :func:`data_parallel_train` trains with any optimizer on one process or on every
  worker of a group, the global batch split across workers;
- :func:`ring_allreduce_seconds` and :func:`step_seconds` are the cost model of a
  data-parallel step (compute proportional to the examples per worker, a ring
  all-reduce of the gradient's bytes).

``lab`` starts no process and no process group: it works inside one the user set up.
Two ways:

- ``torchrun`` starts the workers and sets ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and
  ``MASTER_PORT``; the script joins the group and trains. For example, saved as
  ``train_dp.py`` and run with ``torchrun --nproc_per_node=2 train_dp.py``::

      import torch
      import torch.distributed as dist
      from torch.nn.parallel import DistributedDataParallel

      from lab import distributed, optim, train

      dist.init_process_group("gloo")  # "nccl" with one GPU per worker
      data = train.load_digits()
      net = train.make_model(32, torch.Generator().manual_seed(0))
      model = DistributedDataParallel(net)
      opt = optim.SNR(model.parameters(), batch_size=64, lambda_eta=0.5,
                      second_moment="examples")
      distributed.data_parallel_train(
          model, opt, data.X_train, data.y_train, steps=100, global_batch=64,
          generator=torch.Generator().manual_seed(1), second_moment=True)
      dist.destroy_process_group()

- From a notebook or a test, ``torch.multiprocessing.spawn`` starts fresh interpreters
  that run an importable function, which joins the group itself: the book spawns
  :func:`digits_worker` this way (``mp.spawn(digits_worker, nprocs=2, args=(2,
  init_file, job, out))``), with a group timeout so that a failing worker cannot leave
  the others waiting.
"""

from __future__ import annotations

import time
from datetime import timedelta

import torch

from lab import _checks

__all__ = [
    "per_example_gradients",
    "backward_with_second_moment",
    "data_parallel_train",
    "digits_worker",
    "ring_allreduce_seconds",
    "step_seconds",
]

#: The most examples one call of :func:`per_example_gradients` takes (it holds one
#: gradient per example in memory).
MAX_EXAMPLES = 1 << 16


def _unwrap(model):
    return getattr(model, "module", model)


def _world():
    """(rank, world size, process group or None) of the current process."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), dist.group.WORLD
    return 0, 1, None


#: The most workers of :func:`digits_worker`'s process group.
MAX_WORKERS = 1024
#: The most steps of one :func:`data_parallel_train`.
MAX_STEPS = 10**6


def _check_data(model, loss_fn, X, y):
    """model, loss_fn, X and y (a batch dimension, as many examples, X finite)."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {loss_fn!r:.80}")
    if not isinstance(X, torch.Tensor) or X.dim() < 1:
        raise TypeError(f"X must be a tensor with a batch dimension, got {X!r:.80}")
    if not isinstance(y, torch.Tensor) or y.dim() < 1:
        raise TypeError(f"y must be a tensor with a batch dimension, got {y!r:.80}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(
            f"X and y must hold the same number of examples, got {X.shape[0]} and "
            f"{y.shape[0]}"
        )
    if X.shape[0] < 1:
        raise ValueError("X and y must hold at least one example")
    if X.is_floating_point() and not bool(torch.isfinite(X).all()):
        raise ValueError("X must be finite everywhere")


def _check_batch(model, loss_fn, X, y, with_losses=False):
    """:func:`_check_data`, at most ``MAX_EXAMPLES`` examples, and one example through
    the model and the loss."""
    _check_data(model, loss_fn, X, y)
    _checks.integer_at_least("X.shape[0]", X.shape[0], 1, MAX_EXAMPLES)
    _checks.flag("with_losses", with_losses)
    _check_loss(model, loss_fn, X, y)


def _check_loss(model, loss_fn, X, y):
    """One example through the model and the loss: a scalar, or a ``ValueError``
    naming the arguments."""
    try:
        with torch.no_grad():
            out = loss_fn(_unwrap(model)(X[:1]), y[:1])  # no DDP collective
    except (RuntimeError, IndexError, TypeError, ValueError) as err:
        raise ValueError(
            f"model, loss_fn, X, y: the loss of one example fails: {err}"
        ) from None
    if not isinstance(out, torch.Tensor) or out.numel() != 1:
        raise ValueError(
            f"loss_fn must return the mean loss (a scalar tensor), got {out!r:.80}"
        )


def per_example_gradients(model, loss_fn, X, y, *, with_losses: bool = False):
    """The gradient of ``loss_fn(model(x_b), y_b)`` for every example b of the batch.

    Returns ``{name: tensor of shape (B, *p.shape)}`` over ``model``'s trainable
    parameters (unwrapped from ``DistributedDataParallel``), computed by
    ``torch.func.vmap`` over ``torch.func.grad`` of a one-example loss: one vectorised
    pass, no loop over examples. ``loss_fn(output, target)`` must be the *mean* loss of
    its batch (as ``torch.nn.functional.cross_entropy`` is), so that the mean of these
    gradients is the batch gradient :math:`\\hat g`. With ``with_losses`` it returns
    the pair (gradients, per-example losses of shape (B,)). At most ``MAX_EXAMPLES``
    examples. Raises ``TypeError``/``ValueError`` naming a bad argument. Non-finite
    gradients are returned as they are (inside a process group every worker must reach
    the all-reduce; the optimizer then rejects them on every worker).
    """
    from torch.func import functional_call, grad, vmap

    _check_batch(model, loss_fn, X, y, with_losses)
    net = _unwrap(model)
    params = {k: p.detach() for k, p in net.named_parameters() if p.requires_grad}
    buffers = {k: b.detach() for k, b in net.named_buffers()}

    def one(params, x, t):
        out = functional_call(net, (params, buffers), (x.unsqueeze(0),))
        loss = loss_fn(out, t.unsqueeze(0))
        return loss, loss.detach()

    grads, losses = vmap(grad(one, has_aux=True), in_dims=(None, 0, 0))(params, X, y)
    return (grads, losses) if with_losses else grads


def _worker_mean(tensors: list, world: int, group) -> list:
    """``tensors`` averaged over the ``world`` workers of ``group`` (one all-reduce of
    them all, flattened); as they are on one process."""
    if world == 1:
        return tensors
    import torch.distributed as dist

    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=group)
    flat /= world
    return [
        f.reshape(t.shape)
        for f, t in zip(flat.split([t.numel() for t in tensors]), tensors)
    ]


def backward_with_second_moment(model, loss_fn, X, y) -> torch.Tensor:
    """Set ``p.grad`` and ``p.grad_sq`` on every trainable parameter; return the loss.

    ``p.grad`` is the batch gradient :math:`\\hat g` (the mean of the per-example
    gradients) and ``p.grad_sq`` the batch mean of their squares,
    :math:`\\frac1B\\sum_b \\hat g_b^2`, which ``lab.optim.SNR(second_moment="examples")``
    reads. Both replace what was there (no accumulation).

    Inside a process group of M workers, each holding B examples, both are averaged over
    the workers, so they equal a single process's values on all MB examples: with
    ``model`` a ``DistributedDataParallel``, DDP averages ``p.grad`` during an ordinary
    backward pass and ``lab`` all-reduces ``p.grad_sq``; with a plain module, ``lab``
    all-reduces both. The loss returned is that of the local batch.
    """

    grads, losses = per_example_gradients(model, loss_fn, X, y, with_losses=True)
    _, world, group = _world()
    net = _unwrap(model)
    named = dict(net.named_parameters())
    squares = _worker_mean([grads[k].square().mean(0) for k in grads], world, group)
    for k, sq in zip(grads, squares):
        named[k].grad_sq = sq.reshape(named[k].shape)
    if model is not net:  # DistributedDataParallel: its backward averages p.grad
        for p in net.parameters():
            p.grad = None
        loss = loss_fn(model(X), y)
        loss.backward()
        return loss.detach()
    means = _worker_mean([grads[k].mean(0) for k in grads], world, group)
    for k, m in zip(grads, means):
        named[k].grad = m.reshape(named[k].shape).clone()
    return losses.mean()


def data_parallel_train(
    model,
    optimizer,
    X,
    y,
    *,
    steps: int,
    global_batch: int,
    generator: torch.Generator,
    second_moment: bool = False,
    loss_fn=None,
) -> list[float]:
    """Train ``model`` for ``steps`` steps of a global batch split across the workers.

    Every worker draws the same ``global_batch`` indices of (X, y) from ``generator``
    (seeded alike on every worker) and takes its own contiguous slice, so M workers with
    ``global_batch // M`` examples each see exactly the batch one process would.
    ``global_batch`` must be divisible by the number of workers. With
    ``second_moment`` the gradient comes from :func:`backward_with_second_moment` (for
    ``SNR(second_moment="examples")``), else from an ordinary backward pass (averaged by
    DDP when ``model`` is a ``DistributedDataParallel``). Returns the global batch's mean
    loss at every step (the workers' local losses averaged). At most 10**6 steps,
    steps × len(X) at most 10**9 (a permutation per step), and with ``second_moment``
    at most ``MAX_EXAMPLES`` examples per worker.
    """

    rank, world, group = _world()
    loss_fn = torch.nn.functional.cross_entropy if loss_fn is None else loss_fn
    _check_training(model, optimizer, X, y, generator, second_moment, loss_fn)
    steps = _checks.integer_at_least("steps", steps, 0, MAX_STEPS)
    n = X.shape[0]
    global_batch = _checks.integer_at_least("global_batch", global_batch, 1, n)
    if global_batch % world:
        raise ValueError(
            f"global_batch must be divisible by the {world} workers, got {global_batch}"
        )
    _check_sizes(steps, n, global_batch // world, second_moment)
    local = global_batch // world
    losses = []
    for _ in range(steps):
        idx = torch.randperm(n, generator=generator, device=generator.device)
        mine = idx[:global_batch][rank * local : (rank + 1) * local].to(X.device)
        xb, yb = X[mine], y[mine]
        optimizer.zero_grad(set_to_none=True)
        if second_moment:
            loss = backward_with_second_moment(model, loss_fn, xb, yb)
        else:
            loss = loss_fn(model(xb), yb)
            loss.backward()
            loss = loss.detach()
            if model is _unwrap(model):  # a plain module: average by hand
                params = [p for p in model.parameters() if p.grad is not None]
                means = _worker_mean([p.grad for p in params], world, group)
                for p, g in zip(params, means):
                    p.grad = g
        optimizer.step()
        losses.append(float(_worker_mean([loss], world, group)[0]))
    return losses


def _check_training(model, optimizer, X, y, generator, second_moment, loss_fn):
    """The objects :func:`data_parallel_train` takes, checked."""
    _check_data(model, loss_fn, X, y)
    _checks.instance("optimizer", optimizer, torch.optim.Optimizer)
    _checks.generator("generator", generator)
    _checks.flag("second_moment", second_moment)
    _check_loss(model, loss_fn, X, y)


def _check_sizes(steps: int, n: int, local: int, second_moment: bool) -> None:
    """The work of :func:`data_parallel_train`: a permutation of n per step, and at
    most ``MAX_EXAMPLES`` per-example gradients per worker."""
    _checks.work("steps × len(X)", steps * n)
    if second_moment and local > MAX_EXAMPLES:
        raise ValueError(
            f"global_batch must be at most {MAX_EXAMPLES} per worker with "
            f"second_moment, got {local}"
        )


def ring_allreduce_seconds(
    n_bytes: float, workers: int, bandwidth: float, latency: float = 0.0
) -> float:
    """Time of a ring all-reduce of ``n_bytes`` over ``workers`` workers.

    Each worker sends and receives :math:`2(M-1)/M` times the message in
    :math:`2(M-1)` rounds (reduce-scatter, then all-gather):
    :math:`2\\frac{M-1}{M}\\frac{\\text{bytes}}{\\text{bandwidth}} + 2(M-1)\\,\\text{latency}`.
    ``bandwidth`` in bytes per second (> 0), ``latency`` in seconds per round (>= 0),
    ``workers`` an integer in [1, 10**6]. One worker needs no communication: 0.
    """
    n_bytes = _checks.nonnegative("n_bytes", n_bytes)
    workers = _checks.integer_at_least("workers", workers, 1, 10**6)
    bandwidth = _checks.positive("bandwidth", bandwidth)
    latency = _checks.nonnegative("latency", latency)
    k = workers
    seconds = 2 * (k - 1) / k * n_bytes / bandwidth + 2 * (k - 1) * latency
    return _checks.finite_result(seconds, "n_bytes, bandwidth, latency")


def step_seconds(
    seconds_per_example: float,
    batch_per_worker: int,
    n_bytes: float,
    workers: int,
    bandwidth: float,
    latency: float = 0.0,
) -> tuple[float, float]:
    """(compute, all-reduce) seconds of one data-parallel step, as a model.

    Compute is proportional to the examples on one worker
    (``seconds_per_example * batch_per_worker``: the workers run in parallel), and the
    all-reduce is :func:`ring_allreduce_seconds` of the gradient's ``n_bytes``. Without
    overlap of the two, a step takes their sum.
    """
    seconds_per_example = _checks.nonnegative(
        "seconds_per_example", seconds_per_example
    )
    batch_per_worker = _checks.integer_at_least(
        "batch_per_worker", batch_per_worker, 1, 10**9
    )
    compute = _checks.finite_result(
        seconds_per_example * batch_per_worker, "seconds_per_example, batch_per_worker"
    )
    return compute, ring_allreduce_seconds(n_bytes, workers, bandwidth, latency)


def _make_optimizer(params, spec: dict):
    from lab import optim

    spec = dict(spec)
    cls = getattr(optim, spec.pop("name"))
    return cls(params, **spec)


def digits_worker(rank: int, world_size: int, init_file: str, job: dict, out: str):
    """One worker of the book's data-parallel run on the digits (spawn target).

    Joins a gloo process group of ``world_size`` workers through the file
    ``init_file`` (with a timeout of ``job["timeout"]`` seconds, so that a worker that
    fails cannot leave the others waiting forever), builds the digits model of
    ``job`` (float64, ``job["hidden"]`` hidden units, initial weights from
    ``job["seed"]``) wrapped in ``DistributedDataParallel``, and for each optimizer
    spec in ``job["optimizers"]`` (``{"name": "Adam", "lr": ...}``) trains
    ``job["steps"]`` steps of ``job["global_batch"]`` examples, with per-example second
    moments for specs that ask for ``second_moment="examples"``. Rank 0 saves the final
    parameters and losses to ``out`` (``torch.save``), with, when ``job["time_steps"]``
    is set, the median seconds of a step's compute and of its all-reduce over that many
    steps. ``job["fail_rank"]``, when set, makes that worker raise at once (the tests
    use it). Every argument is checked before the group is joined: ``world_size`` in
    [1, 1024], ``rank`` in [0, world_size), the paths strings, ``job`` as above.
    """
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from lab import train

    world_size = _checks.integer_at_least("world_size", world_size, 1, MAX_WORKERS)
    rank = _checks.integer_at_least("rank", rank, 0, world_size - 1)
    _checks.text("init_file", init_file, empty=False)
    _checks.text("out", out, empty=False)
    _check_job(job, world_size)
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"file://{init_file}",
        rank=rank,
        world_size=world_size,
        timeout=timedelta(seconds=job.get("timeout", 30)),
    )
    try:
        if job.get("fail_rank") == rank:
            raise RuntimeError(f"worker {rank} failed on purpose")
        data = train.load_digits(dtype=torch.float64)
        results = {}
        for spec in job["optimizers"]:
            gen = torch.Generator().manual_seed(job["seed"])
            net = train.make_model(job["hidden"], gen, dtype=torch.float64)
            model = DistributedDataParallel(net)
            opt = _make_optimizer(model.parameters(), spec)
            examples = spec.get("second_moment") == "examples"
            losses = data_parallel_train(
                model,
                opt,
                data.X_train,
                data.y_train,
                steps=job["steps"],
                global_batch=job["global_batch"],
                generator=torch.Generator().manual_seed(job["seed"] + 1),
                second_moment=examples,
            )
            key = spec["name"] + ("/examples" if examples else "")
            results[key] = {
                "params": [p.detach().clone() for p in net.parameters()],
                "losses": losses,
            }
        if job.get("time_steps", 0):
            results["timing"] = _time_step(data, job, world_size, rank)
        if rank == 0:
            torch.save(results, out)
    finally:
        dist.destroy_process_group()


def _check_job(job, world_size: int) -> None:
    """``job`` of :func:`digits_worker`: a dict with ``optimizers`` (a list of specs
    naming a :mod:`lab.optim` class), ``steps``, ``global_batch``, ``hidden``, ``seed``
    and optionally ``timeout``, ``time_steps`` and ``fail_rank``."""
    from collections.abc import Mapping

    from lab import _seed, optim, train

    if not isinstance(job, Mapping):
        raise TypeError(f"job must be a dict, got {job!r:.80}")
    missing = {"optimizers", "steps", "global_batch", "hidden", "seed"} - set(job)
    if missing:
        raise ValueError(f"job must have the keys {sorted(missing)}")
    specs = job["optimizers"]
    if not isinstance(specs, list | tuple) or not specs:
        raise TypeError(
            f"job['optimizers'] must be a non-empty list, got {specs!r:.80}"
        )
    for i, spec in enumerate(specs):
        if not isinstance(spec, Mapping) or spec.get("name") not in optim.__all__:
            raise ValueError(
                f"job['optimizers'][{i}] must be a dict whose 'name' is a class of "
                f"lab.optim, got {spec!r:.80}"
            )
    _checks.integer_at_least("job['steps']", job["steps"], 0, MAX_STEPS)
    batch = _checks.integer_at_least(
        "job['global_batch']", job["global_batch"], 1, MAX_EXAMPLES
    )
    if batch % world_size:
        raise ValueError(
            f"job['global_batch'] must be divisible by world_size = {world_size}, "
            f"got {batch}"
        )
    _checks.integer_at_least("job['hidden']", job["hidden"], 0, train.MAX_HIDDEN)
    _seed("job['seed']", job["seed"])
    _checks.positive("job['timeout']", job.get("timeout", 30))
    _checks.integer_at_least("job['time_steps']", job.get("time_steps", 0), 0, 10**4)


def _time_step(data, job, world_size, rank):
    """Median seconds of one step's compute (forward and backward, no communication)
    and of the all-reduce of the gradient, on this worker."""
    import torch.distributed as dist

    from lab import train

    gen = torch.Generator().manual_seed(job["seed"])
    net = train.make_model(job["hidden"], gen, dtype=torch.float32)
    local = job["global_batch"] // world_size
    xb, yb = data.X_train[:local].float(), data.y_train[:local]
    flat = torch.zeros(sum(p.numel() for p in net.parameters()))
    compute, comm = [], []
    for _ in range(job["time_steps"]):
        t0 = time.perf_counter()
        net.zero_grad()
        torch.nn.functional.cross_entropy(net(xb), yb).backward()
        t1 = time.perf_counter()
        dist.all_reduce(flat)
        t2 = time.perf_counter()
        compute.append(t1 - t0)
        comm.append(t2 - t1)
    compute.sort()
    comm.sort()
    return {
        "compute": compute[len(compute) // 2],
        "allreduce": comm[len(comm) // 2],
        "bytes": 4 * flat.numel(),
        "local_batch": local,
        "rank": rank,
    }
