"""Optuna's exceptions, and the one the shim raises for what has no faithful zoomtune equivalent.

`TrialPruned` is a `zoomtune.TrialStopped`, so a trial that raises it ends STOPPED (Optuna's PRUNED),
keeping its last reported value, exactly like a zoomtune objective that stops itself.
"""

from __future__ import annotations

from typing import Any

from zoomtune.errors import DuplicatedStudyError, StorageError, TrialStopped, ZoomtuneError

#: Optuna's base error is zoomtune's, so ``except optuna.exceptions.OptunaError`` catches what zoomtune raises.
OptunaError = ZoomtuneError
StorageInternalError = StorageError


class TrialPruned(TrialStopped):
    """Raise from an objective to end the trial early (it ends PRUNED, zoomtune's STOPPED)."""


class UnsupportedError(NotImplementedError):
    """An Optuna feature the shim cannot map faithfully onto zoomtune: the message names it and what to use."""

    def __init__(self, what: str, instead: str) -> None:
        self.what, self.instead = what, instead
        super().__init__(f"{what} is not supported by zoomtune.compat.optuna: {instead}")


def unsupported_class(name: str, instead: str) -> type:
    """A stand-in for an Optuna class zoomtune lacks: making one raises `UnsupportedError` naming it and
    saying what to use instead."""

    def refuse(self: object, *args: Any, **kwargs: Any) -> None:
        raise UnsupportedError(name, instead)

    return type(name, (), {"__init__": refuse, "__doc__": f"Not available in zoomtune: {instead}."})


__all__ = ["DuplicatedStudyError", "OptunaError", "StorageInternalError", "TrialPruned", "UnsupportedError",
           "unsupported_class"]
