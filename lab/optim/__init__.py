"""The lecture's optimizers as drop-in ``torch.optim.Optimizer`` subclasses.

Each optimizer is a running average (:mod:`lab.running_averages`) of :math:`\\hat g` or
:math:`\\hat g^2` followed by a step on :math:`\\Phi`:

- :class:`SGD`: :math:`\\Phi \\mathrel{-}= \\eta\\,\\hat g`;
- :class:`Momentum`: :math:`v_t = (1-\\frac1N) v_{t-1} + \\eta\\,\\hat g_t`,
  :math:`\\Phi \\mathrel{-}= v_t`;
- :class:`AveragedMomentum`: :math:`\\mu_t` a running average of :math:`\\hat g`,
  :math:`\\Phi \\mathrel{-}= \\eta'\\mu_t`;
- :class:`RMSProp`: :math:`s_t` a running average of :math:`\\hat g^2`,
  :math:`\\Phi \\mathrel{-}= \\eta\\,\\hat g_t/\\sqrt{s_t + \\epsilon}`;
- :class:`Adam`: both, with a bias-correcting weight schedule,
  :math:`\\Phi \\mathrel{-}= \\eta\\,\\mu_t/(\\sqrt{s_t} + \\epsilon)`;
- :class:`SNR`: the lecture's complete algorithm, a per-coordinate learning rate
  :math:`\\eta[i] = \\lambda_\\eta \\tilde g[i]^2/\\tilde\\sigma[i]^2`.

Where to read what:

- :mod:`lab.optim.updates`: the lecture's equations, one function per optimizer
  (``sgd_update``, ``momentum_update``, ...): read these beside the chapters;
- :mod:`lab.optim.optimizers`: the classes, each a few lines of checks and dispatch;
- ``lab.optim._foreach``, ``lab.optim._fused`` (a C++ file and its build),
  ``lab.optim._base``: the fast paths and the shared machinery.

``impl`` (every optimizer) chooses how a step runs; all of them are tested equal to the
reference function:

- ``"reference"``: the function of :mod:`lab.optim.updates`, one tensor at a time;
- ``"foreach"``: ``torch._foreach_*`` ops over lists of tensors (for :class:`SNR`, the
  update rewritten in 13 elementwise ops run over cache-sized blocks);
- ``"fused"``: on CPU, float32/float64 tensors, lab's C++ step, compiled on first use
  (a few seconds once per machine): one pass over memory with the reference's
  arithmetic op for op (bit for bit on x86 with AVX2 or AVX-512), except
  :class:`SNR`'s, rearranged to fewer operations (equal up to round-off). For
  :class:`Adam` also torch's fused Adam kernel (CPU or CUDA). Raises where no fused
  kernel applies;
- ``"auto"`` (default): ``"fused"`` where it applies, ``"foreach"`` elsewhere (CUDA, no
  compiler: one warning). ``LAB_FUSED=0`` in the environment skips the C++ build.

The book's pages keep ``"auto"``: the build costs one compile per machine (cached by
torch), and the pages then run the same code as the benchmarks.

All of them accept param groups, ``step(closure)``, ``torch.optim.lr_scheduler`` (``lr``
is read from the group on every step), ``state_dict``/``load_state_dict`` (a resumed run
is bitwise identical to an uninterrupted one), float32/float64 parameters on any
device, and float16/bfloat16 parameters with float32 state. Parameters whose ``grad`` is
None are skipped. Sparse gradients raise ``RuntimeError``.

A non-finite gradient never reaches a parameter or the state, and neither does a finite
one whose step overflows (a float32 gradient of 3e38, whose square is inf): a
coordinate whose gradient is inf or NaN, or whose step would make a state value or a
finite parameter inf or NaN, is treated alike, the same way on every ``impl``. Steps are
all or nothing: the hyperparameters are checked again at every step (a scheduler or a
user may have changed them; ``ValueError`` naming the group, the hyperparameter and its
range), ``add_param_group`` and ``load_state_dict`` check everything first, and no
error lab raises leaves a step half applied. ``check_finite``:

- ``True`` (default): every other coordinate takes the step; such a coordinate keeps
  its parameter and state; then the step raises ``FloatingPointError`` naming the
  parameters. The C++ steps check each value as they read or write it, so this costs
  no extra pass over memory; the Python steps keep bounds on the state's magnitudes
  (``lab.optim._base``) and check on copies only where those allow an overflow.
- ``"strict"``: every gradient is read before anything is written, and a non-finite
  one raises ``FloatingPointError`` with no parameter or state changed (skip the batch
  and go on, as ``torch.amp.GradScaler`` does). That costs one more read of every
  gradient: 4 bytes per float32 parameter on top of the 28 an Adam step moves, 15-25%
  more time on 10M parameters in ``make bench``.
- ``False``: no check; NaN propagates, as in torch.
"""

from __future__ import annotations

from lab.optim.optimizers import SGD, SNR, Adam, AveragedMomentum, Momentum, RMSProp
from lab.optim.updates import (
    adam_update,
    averaged_momentum_update,
    momentum_update,
    rmsprop_update,
    sgd_update,
    snr_batch_size_star,
    snr_learning_rate,
    snr_update,
    snr_variance,
    snr_weight,
)

__all__ = [
    "SGD",
    "Momentum",
    "AveragedMomentum",
    "RMSProp",
    "Adam",
    "SNR",
    "sgd_update",
    "momentum_update",
    "averaged_momentum_update",
    "rmsprop_update",
    "adam_update",
    "snr_update",
    "snr_variance",
    "snr_batch_size_star",
    "snr_weight",
    "snr_learning_rate",
]
