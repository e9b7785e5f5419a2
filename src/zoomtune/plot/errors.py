"""The one error of `zoomtune.plot`: a figure asked of a study that cannot have it (yet)."""

from __future__ import annotations

from zoomtune.errors import ZoomtuneError


class NotPlottableError(ZoomtuneError, ValueError):
    """The study has nothing this figure could show (no importance yet, a single objective for a front, an
    unknown parameter); the message says what is missing."""


__all__ = ["NotPlottableError"]
