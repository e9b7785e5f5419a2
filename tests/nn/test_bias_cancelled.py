"""A bias placed before batch norm is cancelled: in training mode (batch statistics) it gets zero gradient
and does not change the output, so zoomtune's MLP / ConvNet leave it out of every layer batch norm follows.

Exactly zero in exact arithmetic; in floating point the bias gradient Σ_n dx_n is a sum of terms that
cancel, so it comes out at rounding level, not 0 (measured: ~1e-6 in float32, ~1e-15 in float64, against
~10 for the β just after it).  Each dx_n = a·g_n + b·(x_n − mean) + k (a = γ/σ) adds terms of size at most
a·max|g|·(2 + |x̂_n|), so the rounding bound is K·u·a·max|g|·Σ_n(2 + |x̂_n|) (u = unit roundoff);
the worst measured over backends, dtypes and seeds is 0.75 of it with K = 1, and the tests allow K = 8.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from zoomtune.nn import (  # noqa: E402
    MLP,
    BatchNorm,
    BatchNorm1d,
    BatchNorm2d,
    BatchNormReLU1d,
    BatchNormReLU2d,
    ConvNet,
)
from zoomtune.nn.models import ACTIVATIONS  # noqa: E402

C = 6
LAYERS = [(BatchNorm1d, (48, C)), (BatchNorm1d, (12, C, 5)), (BatchNormReLU1d, (48, C)),
          (BatchNorm2d, (4, C, 3, 5)), (BatchNormReLU2d, (4, C, 3, 5))]
DTYPES = [torch.float32, torch.float64]
BACKENDS = ["auto", "eager"]
GRAD_ULPS = 8  # K of the module docstring's rounding bound (measured worst case 0.75)
OUT_ULPS = 64   # measured worst case ~10 of u·max|γ|·(max|z| + |shift|)/min σ


def _layer(cls: type[nn.Module], dtype: torch.dtype, backend: str, seed: int) -> nn.Module:
    """A training-mode batch norm with γ, β away from their 1 / 0 start, so nothing cancels by accident."""
    torch.manual_seed(seed)
    bn = cls(C, backend=backend, dtype=dtype)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 2.0)
        bn.bias.uniform_(-1.0, 1.0)
    return bn.train()


def _channel_view(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (1, C) + (1,) * (len(shape) - 2)


def _reduce_dims(shape: tuple[int, ...]) -> list[int]:
    return [0, *range(2, len(shape))]


def _rounding_bound(z: torch.Tensor, gamma: torch.Tensor, upstream: torch.Tensor, eps: float) -> torch.Tensor:
    """Per channel, GRAD_ULPS·u·a·max|g|·Σ_n(2 + |x̂_n|): the rounding level of Σ_n dx_n (module docstring)."""
    dims = _reduce_dims(tuple(z.shape))
    z = z.detach()
    std = torch.sqrt(z.var(dims, unbiased=False) + eps)
    xhat = (z - z.mean(dims, keepdim=True)) / std.view(_channel_view(tuple(z.shape)))
    a = gamma.detach().abs() / std
    return GRAD_ULPS * torch.finfo(z.dtype).eps / 2 * a * upstream.abs().amax(dims) * (2 + xhat.abs()).sum(dims)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("cls", "shape"), LAYERS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_bias_before_batch_norm_gets_zero_gradient(cls: type[nn.Module], shape: tuple[int, ...],
                                                   dtype: torch.dtype, backend: str) -> None:
    bn = _layer(cls, dtype, backend, seed=0)
    x = torch.randn(*shape, dtype=dtype) * 2.0 + 1.0
    bias = torch.randn(C, dtype=dtype, requires_grad=True)
    z = x + bias.view(_channel_view(shape))
    upstream = torch.randn(*shape, dtype=dtype)
    (bn(z) * upstream).sum().backward()
    assert bias.grad is not None and bn.bias.grad is not None
    bound = _rounding_bound(z, bn.weight, upstream, bn.eps)
    assert torch.all(bias.grad.abs() <= bound), (bias.grad, bound)
    # the same bias after batch norm is β, whose gradient Σ dy does not cancel: the tolerance is far below it
    assert bound.max() < 1e-3 * bn.bias.grad.abs().max()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("cls", "shape"), LAYERS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_output_does_not_change_with_the_bias(cls: type[nn.Module], shape: tuple[int, ...], dtype: torch.dtype,
                                              backend: str) -> None:
    bn = _layer(cls, dtype, backend, seed=1)
    x = torch.randn(*shape, dtype=dtype) * 2.0 + 1.0
    shift = torch.linspace(-3.0, 3.0, C, dtype=dtype)
    with torch.no_grad():
        before = bn(x)
        after = bn(x + shift.view(_channel_view(shape)))
    u = torch.finfo(dtype).eps / 2
    sigma = x.std(_reduce_dims(shape)).min()
    bound = OUT_ULPS * u * bn.weight.abs().max() * (x.abs().max() + shift.abs().max()) / sigma
    assert (after - before).abs().max() <= bound
    assert (after - before).abs().max() < 1e-4  # and in absolute terms: nothing like the shift of up to 3


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_and_conv_bias_before_batch_norm_get_zero_gradient(dtype: torch.dtype) -> None:
    """Real layers, and the loss Σ out², whose gradient cancels (γ = 1, β = 0: Σ x̂² is constant), so the
    bias gradient is all rounding."""
    torch.manual_seed(2)
    for layer, bn, x in ((nn.Linear(10, C, dtype=dtype), BatchNorm1d(C, dtype=dtype), torch.randn(32, 10, dtype=dtype)),
                         (nn.Conv2d(3, C, 3, dtype=dtype), BatchNormReLU2d(C, dtype=dtype),
                          torch.randn(4, 3, 6, 6, dtype=dtype))):
        z = layer(x)
        out = bn(z)
        out.retain_grad()
        out.square().sum().backward()
        assert layer.bias.grad is not None and out.grad is not None and layer.weight.grad is not None
        assert torch.all(layer.bias.grad.abs() <= _rounding_bound(z, bn.weight, out.grad, bn.eps))


def test_in_eval_mode_the_bias_is_not_cancelled() -> None:
    """Running statistics are constants: a bias before batch norm then shifts the output and gets a gradient."""
    bn = _layer(BatchNorm1d, torch.float64, "auto", seed=3).eval()
    bias = torch.zeros(C, dtype=torch.float64, requires_grad=True)
    x = torch.randn(16, C, dtype=torch.float64)
    bn(x + bias).sum().backward()
    assert bias.grad is not None
    torch.testing.assert_close(bias.grad, 16 * bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps))


NORMS = (BatchNorm, BatchNorm1d, BatchNorm2d, nn.BatchNorm1d, nn.BatchNorm2d)


def _biases(net: nn.Sequential) -> list[tuple[bool, bool]]:
    """(followed by batch norm, has a bias) for each Linear / Conv2d layer of `net`, in order."""
    layers = list(net)
    return [(isinstance(nxt, NORMS), layer.bias is not None)
            for layer, nxt in zip(layers, [*layers[1:], None], strict=True)
            if isinstance(layer, (nn.Linear, nn.Conv2d))]


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("batchnorm", [True, False])
def test_models_carry_a_bias_only_where_no_batch_norm_follows(activation: str, batchnorm: bool) -> None:
    for net in (MLP(12, [8, 8, 8], 3, batchnorm=batchnorm, activation=activation),
                MLP(12, [8, 8], 3, batchnorm=batchnorm, activation=activation, dropout=0.1),
                MLP(12, 8, 3, batchnorm=batchnorm, activation=activation),
                ConvNet(1, 3, channels=(4, 4), size=8, batchnorm=batchnorm, activation=activation)):
        biases = _biases(net)
        assert sum(followed for followed, _ in biases) == (len(biases) - 1 if batchnorm else 0)
        assert all(has_bias is not followed for followed, has_bias in biases), (net, biases)
        assert biases[-1] == (False, True)  # the output layer keeps its bias
