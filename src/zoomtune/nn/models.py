"""Networks built around batch norm: an MLP and a small ConvNet.

A linear or convolutional layer followed by batch norm has no bias: batch norm subtracts the
mini-batch mean, which cancels any constant added before it, and its own β takes the bias's role.
With `activation="relu"` the batch norm and the ReLU run as one fused layer.

>>> import torch
>>> net = MLP(64, [128, 64], 10)
>>> net[0].bias is None, net(torch.randn(8, 64)).shape
(True, torch.Size([8, 10]))
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from zoomtune.nn.batchnorm import BatchNorm1d, BatchNorm2d, BatchNormReLU1d, BatchNormReLU2d

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "sigmoid": nn.Sigmoid, "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
}


def _check_activation(activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}")


def _norm_and_activation(width: int, activation: str, batchnorm: bool, bn_beta: float | None,
                         two_d: bool) -> list[nn.Module]:
    """Batch norm (fused with ReLU when possible) and the activation after a bias-free layer."""
    if not batchnorm:
        return [ACTIVATIONS[activation]()]
    # beta=None leaves batch norm's default running average (momentum 0.1)
    if activation == "relu":
        return [(BatchNormReLU2d if two_d else BatchNormReLU1d)(width, beta=bn_beta)]
    return [(BatchNorm2d if two_d else BatchNorm1d)(width, beta=bn_beta), ACTIVATIONS[activation]()]


class MLP(nn.Sequential):
    """Fully connected layers; each hidden one is Linear → BatchNorm → activation.

    `hidden` is a list of widths (or one int for a single hidden layer). `bn_beta` is batch
    norm's running-average β (None: torch's default, 0.9).
    """

    def __init__(self, in_features: int, hidden: Sequence[int] | int, out: int, batchnorm: bool = True,
                 activation: str = "relu", dropout: float = 0.0, bn_beta: float | None = None) -> None:
        _check_activation(activation)
        widths = [hidden] if isinstance(hidden, int) else list(hidden)
        layers: list[nn.Module] = []
        previous = in_features
        for width in widths:
            layers.append(nn.Linear(previous, width, bias=not batchnorm))
            layers += _norm_and_activation(width, activation, batchnorm, bn_beta, two_d=False)
            if dropout:
                layers.append(nn.Dropout(dropout))
            previous = width
        layers.append(nn.Linear(previous, out))
        super().__init__(*layers)


class ConvNet(nn.Sequential):
    """Blocks of 3x3 conv → BatchNorm → activation → 2x2 max-pool, then a linear classifier.

    `channels` gives the width of each block; the input is (N, in_channels, size, size).
    """

    def __init__(self, in_channels: int, n_classes: int, channels: Sequence[int] = (32, 64), size: int = 28,
                 batchnorm: bool = True, activation: str = "relu", bn_beta: float | None = None) -> None:
        _check_activation(activation)
        layers: list[nn.Module] = []
        previous = in_channels
        for width in channels:
            layers.append(nn.Conv2d(previous, width, kernel_size=3, padding=1, bias=not batchnorm))
            layers += _norm_and_activation(width, activation, batchnorm, bn_beta, two_d=True)
            layers.append(nn.MaxPool2d(2))
            previous, size = width, size // 2
        if size < 1:
            raise ValueError(f"{len(channels)} pooling blocks shrink a {size}-pixel input to nothing")
        layers += [nn.Flatten(), nn.Linear(previous * size * size, n_classes)]
        super().__init__(*layers)


__all__ = ["ACTIVATIONS", "MLP", "ConvNet"]
