"""Batch normalization with a hand-derived backward pass.

Per channel ``c`` (statistics over the batch and all spatial positions, M values)::

    mean    = Σx / M
    var     = Σ(x - mean)² / M                      (biased; used to normalise)
    inv_std = 1 / sqrt(var + eps)
    x̂       = (x - mean) · inv_std
    out     = γ · x̂ + β                             (then max(out, 0) when fused with ReLU)

Modules: :class:`BatchNorm1d` ``(N, C)`` / ``(N, C, L)``, :class:`BatchNorm2d`
``(N, C, H, W)``, :class:`BatchNorm` (any ``(N, C, *)``; the rank is checked per call, so
one class serves every input dimension), and the fused :class:`BatchNormReLU1d` /
:class:`BatchNormReLU2d` (same as ``activation="relu"``).  Parameters, buffers and
``state_dict`` keys are those of ``torch.nn.BatchNorm1d/2d``, so state dicts load both ways.

Backends: on CPU, contiguous float32/float64 inputs go through small fused C kernels
(:mod:`zoomtune.nn._bn_kernels`, compiled with the system C compiler on first use in
about a second and cached); on CUDA, contiguous float32 inputs through Triton kernels
(:mod:`zoomtune.nn._bn_triton`) when Triton imports.  Everything else, or when the kernels are
unavailable, or ``backend=Backend.EAGER`` (or the string ``"eager"``) / ``ZOOMTUNE_BN_BACKEND=eager``,
runs the eager PyTorch implementation below, which computes the same maths on any device.

Dispatch: in eager mode a training-mode call is one ``torch.autograd.Function`` (the cheapest way
to attach a hand-written backward: a custom operator's dispatch costs about twice as much per call,
measured in docs/bn_speed.md); under ``torch.compile`` the same forward and
backward are the registered operators ``torch.ops.zoomtune.batch_norm`` and
``torch.ops.zoomtune.batch_norm_backward`` (with fake and autograd registrations), so a compiled
model sees one op per layer and no graph break.
Double backward (gradients of gradients) is not supported in training mode.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from zoomtune.errors import ConfigError
from zoomtune.nn import _bn_kernels

__all__ = ["Backend", "BatchNorm", "BatchNorm1d", "BatchNorm2d", "BatchNormReLU1d", "BatchNormReLU2d",
           "batch_norm"]

_LOW_PRECISION = (torch.float16, torch.bfloat16)
_ACTIVATIONS = (None, "relu")


class Backend(str, Enum):
    """Which implementation batch norm runs (the ``backend`` argument; also ``$ZOOMTUNE_BN_BACKEND``).

    ``AUTO``: the fused kernels (C on CPU, Triton on CUDA) for the inputs they take, else eager.
    ``EAGER``: PyTorch ops only.  The strings ``"auto"`` and ``"eager"`` are accepted too:

    >>> Backend.parse("eager", "BatchNorm1d") is Backend.EAGER
    True
    >>> Backend.parse("cuda", "BatchNorm1d")
    Traceback (most recent call last):
        ...
    zoomtune.errors.ConfigError: BatchNorm1d: backend: must be one of 'auto', 'eager'; got 'cuda'
    """

    AUTO = "auto"
    EAGER = "eager"

    def __str__(self) -> str:  # "auto", on every Python version (3.11 changed str() of mixed-in enums)
        return self.value

    @classmethod
    def parse(cls, value: Backend | str, owner: str, field: str = "backend") -> Backend:
        """`value` (a member or its string) as a member; `ConfigError` naming it and the choices otherwise."""
        if isinstance(value, cls):
            return value
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(repr(member.value) for member in cls)
            raise ConfigError(field, f"must be one of {choices}", value, owner) from None


# Hot-path comparisons use this alias: reading a member off an Enum class (`Backend.AUTO`) goes
# through EnumType's attribute machinery (~0.2 µs on CPython 3.11), a module global does not.
_AUTO = Backend.AUTO


def _reduce_dims(x: Tensor) -> tuple[int, ...]:
    return (0, *tuple(range(2, x.dim())))


def _channel_shape(x: Tensor) -> tuple[int, ...]:
    return (1, x.shape[1]) + (1,) * (x.dim() - 2)


# ----------------------------------------------------------------------------------------
# Eager maths: forward and its hand-derived backward, side by side.
# ----------------------------------------------------------------------------------------
def _eager_forward(x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float,
                   relu: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Returns (out, mean, inv_std, biased_var); the last three have shape (C,)."""
    dims, shape, m = _reduce_dims(x), _channel_shape(x), x.numel() // x.shape[1]
    # mean = Σx / M ; two passes (sum, then squared deviations): torch.var_mean over
    # non-innermost dims is very slow on CPU, and Σx² − M·mean² loses precision.
    # A float32 Σx is off by many ulps when |mean| ≫ std; the residual mean of the centred
    # values (one cheap reduction) corrects it: mean = m₁ + r, Σ(x − mean)² = Σ(x − m₁)² − M·r².
    mean = x.sum(dims, keepdim=True).div_(m)
    xc = x - mean
    resid = xc.sum(dims, keepdim=True).div_(m)
    var = torch.mul(xc, xc).sum(dims, keepdim=True).div_(m).sub_(resid * resid).clamp_min_(0)
    mean += resid
    inv_std = (var + eps).rsqrt_()
    scale = inv_std if weight is None else inv_std * weight.view(shape)
    # out = γ·x̂ + β = (x − m₁ − r)·(γ·inv_std) + β, written over the xc temporary
    shift = -resid * scale if bias is None else bias.view(shape) - resid * scale
    out = torch.addcmul(shift, xc, scale, out=xc)
    if relu:
        out.clamp_min_(0)
    return out, mean.view(-1), inv_std.view(-1), var.view(-1)


def _eager_backward(dy: Tensor, x: Tensor, out: Tensor | None, mean: Tensor, inv_std: Tensor,
                    weight: Tensor | None, need_dx: bool) -> tuple[Tensor | None, Tensor, Tensor]:
    """Returns (dx, dγ, dβ).

    With x̂ = (x − mean)·inv_std, g = dy (masked by out > 0 when fused with ReLU):
        dβ = Σg
        dγ = Σ(g·x̂) = inv_std · Σ(g·(x − mean))
        dx = γ·inv_std / M · (M·g − Σg − x̂·Σ(g·x̂))
           = a·g + b·(x − mean) + k,   a = γ·inv_std,
             b = −a·inv_std²·Σ(g·(x − mean))/M,   k = −a·Σg/M
    Σ(g·(x − mean)) is computed on centred x: Σ(g·x) − mean·Σg cancels badly when
    |mean| ≫ std.
    """
    dims, shape, m = _reduce_dims(x), _channel_shape(x), x.numel() // x.shape[1]
    if out is not None:  # ReLU mask recomputed from the saved output
        dy = torch.where(out > 0, dy, 0)
    sum_dy = dy.sum(dims, keepdim=True)
    xc = x - mean.view(shape)
    sum_dy_xc = torch.mul(dy, xc).sum(dims, keepdim=True)
    inv = inv_std.view(shape)
    dgamma = (sum_dy_xc * inv).view(-1)
    dbeta = sum_dy.view(-1)
    dx = None
    if need_dx:
        a = inv if weight is None else inv * weight.view(shape)
        b = a * inv * inv * sum_dy_xc * (-1.0 / m)
        k = a * sum_dy * (-1.0 / m)
        dx = torch.addcmul(k, xc, b, out=xc).addcmul_(dy, a)
    return dx, dgamma, dbeta


# ----------------------------------------------------------------------------------------
# Choosing the implementation.  Forward and backward each take the fastest one that accepts
# their tensors (Triton on CUDA, C on CPU, else eager): all compute the same maths from the
# same saved (x, mean, inv_std), so backward need not know which one forward ran.
# ----------------------------------------------------------------------------------------
def _forward(x: Tensor, weight: Tensor | None, bias: Tensor | None, running_mean: Tensor | None,
             running_var: Tensor | None, momentum: float, eps: float, relu: bool,
             use_kernel: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Training-mode forward: (out, mean, inv_std); the running buffers (both or neither) are
    updated in place (running = (1 − momentum)·running + momentum·batch, unbiased var)."""
    if use_kernel:
        if x.is_cuda:
            from zoomtune.nn import _bn_triton  # imports Triton, so only once a CUDA tensor shows up

            if _bn_triton.supports(x, weight, bias, running_mean, running_var):
                fused = _bn_triton.forward(x, weight, bias, running_mean, running_var, momentum, eps, relu)
                if fused is not None:
                    return fused
        else:
            lib = _bn_kernels.get()
            if lib is not None and _bn_kernels.supports(x, weight, bias, running_mean, running_var):
                return _bn_kernels.forward(lib, x, weight, bias, running_mean, running_var, momentum, eps, relu)
    compute = torch.float32 if x.dtype in _LOW_PRECISION else x.dtype
    xs = x if x.dtype == compute else x.to(compute)
    w = weight if weight is None or weight.dtype == compute else weight.to(compute)
    b = bias if bias is None or bias.dtype == compute else bias.to(compute)
    out, mean, inv_std, var = _eager_forward(xs, w, b, eps, relu)
    if running_mean is not None and running_var is not None:
        m = x.numel() // x.shape[1]
        running_mean.lerp_(mean.to(running_mean.dtype), momentum)
        running_var.lerp_((var * (m / (m - 1))).to(running_var.dtype), momentum)
    return (out if out.dtype == x.dtype else out.to(x.dtype)), mean, inv_std


def _backward(dy: Tensor, x: Tensor, out: Tensor | None, mean: Tensor, inv_std: Tensor, weight: Tensor | None,
              need_dx: bool, use_kernel: bool) -> tuple[Tensor | None, Tensor, Tensor]:
    """(dx, dγ, dβ) from what forward saved; dx is None unless asked for.  Without γ (no affine),
    dγ and dβ are those of an implicit γ = 1, β = 0, in the statistics' dtype."""
    if use_kernel:
        if x.is_cuda:
            from zoomtune.nn import _bn_triton

            if _bn_triton.supports(x, out, mean, inv_std, weight):
                grads = _bn_triton.backward(dy, x, out, mean, inv_std, weight, need_dx)
                if grads is not None:
                    return grads
        else:
            lib = _bn_kernels.get()
            if lib is not None and _bn_kernels.supports(x, out, mean, inv_std, weight) and dy.dtype is x.dtype:
                return _bn_kernels.backward(lib, dy, x, out, mean, inv_std, weight, need_dx)
    x_dtype, compute = x.dtype, mean.dtype
    if x_dtype != compute:
        x, dy = x.to(compute), dy.to(compute)
        out = None if out is None else out.to(compute)
    w = weight if weight is None or weight.dtype == compute else weight.to(compute)
    dx, dw, db = _eager_backward(dy, x, out, mean, inv_std, w, need_dx)
    wdt = compute if weight is None else weight.dtype
    return (dx if dx is None or dx.dtype == x_dtype else dx.to(x_dtype),
            dw if dw.dtype == wdt else dw.to(wdt), db if db.dtype == wdt else db.to(wdt))


# ----------------------------------------------------------------------------------------
# Eager mode: an autograd Function, the cheapest way PyTorch offers to attach a hand-written
# backward (a custom op's dispatch costs more per call; benchmarks/bn_speed.py measures both).
# ----------------------------------------------------------------------------------------
class _BatchNormFunction(torch.autograd.Function):
    """Training-mode batch norm.  Saves x, per-channel mean and inv_std, and γ (plus the output
    when fused with ReLU, to recompute its mask) — never x̂."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor | None, bias: Tensor | None, running_mean: Tensor | None,
                running_var: Tensor | None, momentum: float, eps: float, relu: bool, use_kernel: bool) -> Tensor:
        out, mean, inv_std = _forward(x, weight, bias, running_mean, running_var, momentum, eps, relu, use_kernel)
        ctx.use_kernel = use_kernel
        ctx.save_for_backward(x, mean, inv_std, weight, out if relu else None)
        return out

    @staticmethod
    def backward(ctx: Any, dy: Tensor) -> tuple[Tensor | None, ...]:
        # create_graph=True (grad mode on) goes through once_differentiable, whose outputs raise on a second
        # backward; an ordinary backward skips its wrapper (a no_grad block and an any() per call).
        return (_function_backward_once if torch.is_grad_enabled() else _function_backward)(ctx, dy)


def _function_backward(ctx: Any, dy: Tensor) -> tuple[Tensor | None, ...]:
    x, mean, inv_std, weight, out = ctx.saved_tensors
    need_dx, need_dw, need_db = ctx.needs_input_grad[:3]
    dx, dw, db = _backward(dy, x, out, mean, inv_std, weight, need_dx, ctx.use_kernel)
    return dx, dw if need_dw else None, db if need_db else None, None, None, None, None, None, None


_function_backward_once = once_differentiable(_function_backward)


# ----------------------------------------------------------------------------------------
# Under torch.compile: the same forward and backward registered as custom operators, so a
# compiled model sees one opaque op per layer and never breaks its graph on our layer.  An op
# with an autograd formula must be functional: the running buffers are updated outside it.
# ----------------------------------------------------------------------------------------
@torch.library.custom_op("zoomtune::batch_norm", mutates_args=())
def _batch_norm_op(x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float, relu: bool,
                   use_kernel: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Training-mode forward without running buffers: (out, mean, inv_std)."""
    return _forward(x, weight, bias, None, None, 0.0, eps, relu, use_kernel)


@_batch_norm_op.register_fake
def _batch_norm_fake(x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float, relu: bool,
                     use_kernel: bool) -> tuple[Tensor, Tensor, Tensor]:
    stats = x.new_empty(x.shape[1], dtype=torch.float32 if x.dtype in _LOW_PRECISION else x.dtype)
    return torch.empty_like(x), stats, torch.empty_like(stats)


@torch.library.custom_op("zoomtune::batch_norm_backward", mutates_args=())
def _batch_norm_backward_op(dy: Tensor, x: Tensor, out: Tensor | None, mean: Tensor, inv_std: Tensor,
                            weight: Tensor | None, use_kernel: bool) -> tuple[Tensor, Tensor, Tensor]:
    """(dx, dγ, dβ), all three always (an op returns tensors, not None)."""
    dx, dw, db = _backward(dy, x, out, mean, inv_std, weight, True, use_kernel)
    assert dx is not None  # asked for
    return dx, dw, db


@_batch_norm_backward_op.register_fake
def _batch_norm_backward_fake(dy: Tensor, x: Tensor, out: Tensor | None, mean: Tensor, inv_std: Tensor,
                              weight: Tensor | None, use_kernel: bool) -> tuple[Tensor, Tensor, Tensor]:
    grad = mean.new_empty(mean.shape, dtype=mean.dtype if weight is None else weight.dtype)
    return torch.empty_like(x), grad, torch.empty_like(grad)


def _op_setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor, Tensor]) -> None:
    x, weight, _bias, _eps, relu, use_kernel = inputs
    out, mean, inv_std = output
    ctx.use_kernel = use_kernel
    ctx.save_for_backward(x, mean, inv_std, weight, out if relu else None)


def _op_backward(ctx: Any, dy: Tensor, _dmean: Tensor, _dinv_std: Tensor) -> tuple[Tensor | None, ...]:
    x, mean, inv_std, weight, out = ctx.saved_tensors
    dx, dw, db = _batch_norm_backward_op(dy, x, out, mean, inv_std, weight, ctx.use_kernel)
    need_dx, need_dw, need_db = ctx.needs_input_grad[:3]
    return dx if need_dx else None, dw if need_dw else None, db if need_db else None, None, None, None


def _compiled_batch_norm(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
                         weight: Tensor | None, bias: Tensor | None, momentum: float, eps: float, relu: bool,
                         use_kernel: bool) -> Tensor:
    """Training mode under torch.compile: the op, then the running update as traceable ops
    (the batch variance is recovered from inv_std = 1/sqrt(var + eps))."""
    out: Tensor
    mean: Tensor
    inv_std: Tensor
    out, mean, inv_std = _batch_norm_op(x, weight, bias, eps, relu, use_kernel)
    if running_mean is not None and running_var is not None:
        m = x.numel() // x.shape[1]
        running_mean.lerp_(mean.detach().to(running_mean.dtype), momentum)
        var = inv_std.detach().pow(-2).sub_(eps).clamp_min_(0).mul_(m / (m - 1))
        running_var.lerp_(var.to(running_var.dtype), momentum)
    return out


_batch_norm_op.register_autograd(_op_backward, setup_context=_op_setup_context)


def batch_norm(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5, *, activation: str | None = None,
               backend: Backend | str = Backend.AUTO) -> Tensor:
    """Functional form, like ``torch.nn.functional.batch_norm`` (same argument order).

    ``momentum`` is the weight of the batch statistic in the running update
    (``running = (1 − momentum)·running + momentum·batch``); running buffers are updated
    in place when ``training`` is true and they are given (both, or neither).  ``backend`` is a
    :class:`Backend` or its string (``"auto"``, ``"eager"``).
    """
    if not isinstance(backend, Backend):
        backend = Backend.parse(backend, "batch_norm")
    if training and (running_mean is None) is not (running_var is None):
        raise ValueError("give both running_mean and running_var, or neither")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {_ACTIVATIONS}, got {activation!r}")
    if x.dim() < 2:
        raise ValueError(f"expected input of shape (N, C, *), got shape {tuple(x.shape)}")
    return _batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps,
                       activation == "relu", backend)


def _batch_norm(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None,
                bias: Tensor | None, training: bool, momentum: float, eps: float, relu: bool,
                backend: Backend) -> Tensor:
    """`batch_norm` once its arguments are checked (backend a member, buffers both given or both None,
    x of rank ≥ 2): what the modules call (they check these once, when set), so the per-call path does not."""
    if training:
        if x.numel() <= x.shape[1]:
            raise ValueError("Expected more than 1 value per channel when training, got input "
                             f"shape {tuple(x.shape)}")
        use_kernel = backend is _AUTO
        if torch.compiler.is_compiling():
            return _compiled_batch_norm(x, running_mean, running_var, weight, bias, momentum, eps, relu, use_kernel)
        out: Tensor = _BatchNormFunction.apply(x, weight, bias, running_mean, running_var,
                                               momentum, eps, relu, use_kernel)
        return out
    if running_mean is None or running_var is None:
        raise ValueError("running_mean and running_var are required when training=False")
    # Eval: plain differentiable ops with the running statistics.
    shape = _channel_shape(x)
    scale = torch.rsqrt(running_var + eps)
    if weight is not None:
        scale = scale * weight
    out = (x - running_mean.view(shape)) * scale.view(shape)
    if bias is not None:
        out = out + bias.view(shape)
    return torch.relu(out) if relu else out

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
        if value not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {_ACTIVATIONS}, got {value!r}")
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
        return _batch_norm(x, running_mean, running_var, self.weight, self.bias, training or running_mean is None,
                           factor, self.eps, self._relu, self._backend)

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
