"""Batch normalization with a hand-derived backward pass: the maths, and which implementation runs it.

Per channel ``c`` (statistics over the batch and all spatial positions, M values)::

    mean    = Σx / M
    var     = Σ(x - mean)² / M                      (biased; used to normalise)
    inv_std = 1 / sqrt(var + eps)
    x̂       = (x - mean) · inv_std
    out     = γ · x̂ + β                             (then max(out, 0) when fused with ReLU)

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
from torch import Tensor
from torch.autograd.function import once_differentiable

from zoomtune.errors import ConfigError
from zoomtune.nn import _bn_kernels

__all__ = ["ACTIVATIONS", "Backend", "batch_norm", "batch_norm_checked"]

_LOW_PRECISION = (torch.float16, torch.bfloat16)
ACTIVATIONS = (None, "relu")  # what `activation` may be


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
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    if x.dim() < 2:
        raise ValueError(f"expected input of shape (N, C, *), got shape {tuple(x.shape)}")
    return batch_norm_checked(x, running_mean, running_var, weight, bias, training, momentum, eps,
                       activation == "relu", backend)


def batch_norm_checked(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None,
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
