"""Neural-network building blocks for zoomtune (requires PyTorch: ``pip install 'zoomtune[torch]'``).

The README's names, all importable from here::

    from zoomtune.nn import BatchNorm1d, BatchNorm2d, BatchNormReLU2d, MLP, ConvNet, fit, datasets

`fit` is the training loop (the function; it lives in `zoomtune.nn.training`), `datasets` the
module of bundled datasets, `Backend` the choice of batch-norm implementation (``Backend.AUTO``,
``Backend.EAGER``; the layers also take the strings ``"auto"``/``"eager"``).
"""

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "zoomtune.nn needs PyTorch, which is not installed. "
        "Install it with: pip install 'zoomtune[torch]'"
    ) from exc

from zoomtune.nn import datasets
from zoomtune.nn.batchnorm import (
    Backend,
    BatchNorm,
    BatchNorm1d,
    BatchNorm2d,
    BatchNormReLU1d,
    BatchNormReLU2d,
    batch_norm,
)
from zoomtune.nn.models import MLP, ConvNet
from zoomtune.nn.training import OPTIMIZERS, FitResult, accuracy, fit, make_optimizer

__all__ = [
    "MLP",
    "OPTIMIZERS",
    "Backend",
    "BatchNorm",
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNormReLU1d",
    "BatchNormReLU2d",
    "ConvNet",
    "FitResult",
    "accuracy",
    "batch_norm",
    "datasets",
    "fit",
    "make_optimizer",
]
