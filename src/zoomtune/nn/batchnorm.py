"""Batch-norm layers: :class:`BatchNorm1d` ``(N, C)`` / ``(N, C, L)``, :class:`BatchNorm2d`
``(N, C, H, W)``, :class:`BatchNorm` (any ``(N, C, *)``; the rank is checked per call, so
one class serves every input dimension), and the fused :class:`BatchNormReLU1d` /
:class:`BatchNormReLU2d` (same as ``activation="relu"``).  Parameters, buffers and
``state_dict`` keys are those of ``torch.nn.BatchNorm1d/2d``, so state dicts load both ways.

The maths, its hand-derived backward and the choice of implementation (C kernels, Triton, eager;
``torch.compile``) are in :mod:`zoomtune.nn.bn_functional`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from zoomtune.nn.bn_functional import ACTIVATIONS, Backend, batch_norm, batch_norm_checked

__all__ = ["Backend", "BatchNorm", "BatchNorm1d", "BatchNorm2d", "BatchNormReLU1d", "BatchNormReLU2d",
           "batch_norm"]


class _DefaultMomentum(float):
    """The default momentum 0.1, distinguishable (by identity) from an explicit 0.1."""


_DEFAULT_MOMENTUM = _DefaultMomentum(0.1)


class _BatchNormBase(nn.Module):
    _version = 2  # same state-dict version as torch's _NormBase
    _ranks: tuple[int, ...] = ()
    _rank_text = "(N, C, *)"
    _fixed_activation: str | None = None
    # Registered in __init__ (None when affine / track_running_stats is off), declared for the type checker.
    weight: Tensor | None
    bias: Tensor | None
    running_mean: Tensor | None
    running_var: Tensor | None
    num_batches_tracked: Tensor | None
    _backend: Backend  # read by forward; set (and converted from a string) through the `backend` property
    _activation: str | None  # set (and checked) through the `activation` property, with _relu, which forward reads
    _relu: bool

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = _DEFAULT_MOMENTUM,
                 affine: bool = True, track_running_stats: bool = True, *,
                 beta: float | None = None, activation: str | None = None,
                 backend: Backend | str = Backend.AUTO, device: torch.device | str | int | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if momentum is not _DEFAULT_MOMENTUM and beta is not None:
            raise ValueError("give either momentum or beta, not both (momentum = 1 - beta); "
                             f"got momentum={momentum!r}, beta={beta!r}")
        self.activation = activation if self._fixed_activation is None else self._fixed_activation
        self.backend = backend  # converted once, by the property's setter: forward passes the member
        if int(num_features) != num_features or num_features < 1:
            raise ValueError(f"num_features must be a positive integer, got {num_features!r}")
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum: float | None = 0.1
        if beta is not None:
            self.beta = beta
        elif momentum is not _DEFAULT_MOMENTUM:
            self.momentum = self._check_momentum(momentum)
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = nn.Parameter(torch.empty(num_features, device=device, dtype=dtype))
            self.bias = nn.Parameter(torch.empty(num_features, device=device, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, device=device, dtype=dtype))
            self.register_buffer("running_var", torch.ones(num_features, device=device, dtype=dtype))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    @staticmethod
    def _check_momentum(momentum: float | None) -> float | None:
        if momentum is not None and not (0.0 <= float(momentum) <= 1.0):
            raise ValueError(f"momentum must be in [0, 1] or None, got {momentum!r}")
        return None if momentum is None else float(momentum)

    @property
    def backend(self) -> Backend:
        """The implementation this layer runs; assigning ``"auto"``/``"eager"`` (or a member) converts
        and checks it there, once, so forward never does."""
        return self._backend

    @backend.setter
    def backend(self, value: Backend | str) -> None:
        self._backend = Backend.parse(value, type(self).__name__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "backend" in state:  # pickled before Backend existed: the plain string, under its own name
            state = {**state}
            state["_backend"] = Backend.parse(state.pop("backend"), type(self).__name__)
        if "activation" in state:  # pickled before `activation` was a property
            state = {**state}
            activation = state.pop("activation")
            state["_activation"], state["_relu"] = activation, activation == "relu"
        super().__setstate__(state)

    @property
    def activation(self) -> str | None:
        """``None`` or ``"relu"`` (fused); assigning checks it there, once, so forward never does."""
        return self._activation

    @activation.setter
    def activation(self, value: str | None) -> None:
        if value not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {value!r}")
        self._activation, self._relu = value, value == "relu"

    @property
    def beta(self) -> float | None:
        """EWA decay of the running statistics, ``1 − momentum`` (``None`` = cumulative)."""
        return None if self.momentum is None else 1.0 - self.momentum

    @beta.setter
    def beta(self, value: float | None) -> None:
        if value is not None and not (0.0 <= float(value) <= 1.0):
            raise ValueError(f"beta must be in [0, 1] or None, got {value!r}")
        self.momentum = None if value is None else 1.0 - float(value)

    def reset_running_stats(self) -> None:
        running_mean, running_var, count = self.running_mean, self.running_var, self.num_batches_tracked
        if self.track_running_stats and running_mean is not None and running_var is not None and count is not None:
            running_mean.zero_()
            running_var.fill_(1)
            count.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        weight, bias = self.weight, self.bias
        if self.affine and weight is not None and bias is not None:
            nn.init.ones_(weight)
            nn.init.zeros_(bias)

    def _check_input(self, x: Tensor) -> None:
        if (self._ranks and x.dim() not in self._ranks) or x.dim() < 2:
            raise ValueError(f"{type(self).__name__}: expected input of shape {self._rank_text}, "
                             f"got shape {tuple(x.shape)}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}: expected {self.num_features} channels "
                             f"(dim 1) for input of shape {self._rank_text}, got shape "
                             f"{tuple(x.shape)}")

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        training, momentum = self.training, self.momentum
        factor = 0.0 if momentum is None else momentum
        running_mean, running_var = self.running_mean, self.running_var  # buffers: each read once
        if training and self.track_running_stats:
            count = self.num_batches_tracked
            if count is not None:
                count.add_(1)
                if momentum is None:  # cumulative moving average
                    factor = 1.0 / float(count)
        elif training:  # as torch: without tracking, train mode neither uses nor updates the buffers
            running_mean = running_var = None
        return batch_norm_checked(x, running_mean, running_var, self.weight, self.bias,
                                  training or running_mean is None, factor, self.eps, self._relu, self._backend)

    def extra_repr(self) -> str:
        s = (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
             f"affine={self.affine}, track_running_stats={self.track_running_stats}")
        if self.activation and self._fixed_activation is None:
            s += f", activation={self.activation!r}"
        return s

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, local_metadata: dict[str, Any],
                              strict: bool, missing_keys: list[str], unexpected_keys: list[str],
                              error_msgs: list[str]) -> None:
        version = local_metadata.get("version", None)
        key = prefix + "num_batches_tracked"
        if (version is None or version < 2) and self.track_running_stats and key not in state_dict:
            state_dict[key] = (self.num_batches_tracked if self.num_batches_tracked is not None
                               and self.num_batches_tracked.device != torch.device("meta")
                               else torch.tensor(0, dtype=torch.long))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)


_CTOR_DOC = """

    Args:
        num_features: number of channels C.
        eps: added to the variance before the square root.
        momentum: weight of the batch statistic in the running update,
            ``running = (1 − momentum)·running + momentum·batch`` (torch's convention,
            default 0.1); ``None`` means a cumulative average over all batches seen.
        affine: learn a per-channel scale γ (``weight``) and shift β (``bias``).
        track_running_stats: keep ``running_mean``/``running_var``/``num_batches_tracked``
            and use them in eval mode; if false, batch statistics are always used.
        beta: the same running update written as an exponentially-weighted average,
            ``running = β·running + (1 − β)·batch``, i.e. ``momentum = 1 − beta``
            (β = 0.9 is torch's default momentum 0.1).  Give ``momentum`` or ``beta``,
            not both.  β is best tuned on the ``log1m`` scale (uniform in log(1 − β)),
            e.g. β in [0.9, 0.999], i.e. averaging over roughly 10 to 1000 batches.
            ``.beta`` is a read/write property (``None`` when momentum is ``None``).
        activation: ``None`` or ``"relu"`` (fused BN + ReLU; the ReLU mask is recomputed
            from the saved output in backward instead of being stored).
        backend: :class:`Backend` ``AUTO`` (fused C kernels for contiguous float32/64 CPU
            inputs when they build, Triton kernels for contiguous float32 CUDA inputs, else
            eager) or ``EAGER`` (PyTorch ops only); the strings ``"auto"``/``"eager"`` work too.
            ``.backend`` is the member (assigning a string converts it).
    """


class BatchNorm(_BatchNormBase):
    __doc__ = ("Batch norm over any input of shape (N, C, *): (N, C), (N, C, L), (N, C, H, W), "
               "(N, C, D, H, W).  Same maths and state dict as the 1d/2d classes." + _CTOR_DOC)


class BatchNorm1d(_BatchNormBase):
    __doc__ = "Drop-in for ``torch.nn.BatchNorm1d``: input (N, C) or (N, C, L)." + _CTOR_DOC
    _ranks = (2, 3)
    _rank_text = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNormBase):
    __doc__ = "Drop-in for ``torch.nn.BatchNorm2d``: input (N, C, H, W)." + _CTOR_DOC
    _ranks = (4,)
    _rank_text = "(N, C, H, W)"


class BatchNormReLU1d(BatchNorm1d):
    __doc__ = ("``relu(BatchNorm1d(x))`` fused: BatchNorm1d with activation='relu' (the "
               "``activation`` argument is ignored)." + _CTOR_DOC)
    _fixed_activation = "relu"


class BatchNormReLU2d(BatchNorm2d):
    __doc__ = ("``relu(BatchNorm2d(x))`` fused: BatchNorm2d with activation='relu' (the "
               "``activation`` argument is ignored)." + _CTOR_DOC)
    _fixed_activation = "relu"
