"""Neural-network building blocks for zoomtune (requires PyTorch: ``pip install 'zoomtune[torch]'``)."""

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "zoomtune.nn needs PyTorch, which is not installed. "
        "Install it with: pip install 'zoomtune[torch]'"
    ) from exc

from zoomtune.nn.batchnorm import (
    BatchNorm,
    BatchNorm1d,
    BatchNorm2d,
    BatchNormReLU1d,
    BatchNormReLU2d,
    batch_norm,
)

__all__ = [
    "BatchNorm",
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNormReLU1d",
    "BatchNormReLU2d",
    "batch_norm",
]
