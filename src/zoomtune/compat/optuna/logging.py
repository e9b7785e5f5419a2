"""Optuna's verbosity switches, mapped onto the "zoomtune" logger (so ``set_verbosity(WARNING)`` silences
zoomtune's per-trial messages as it silences Optuna's). The handler and propagation switches are
accepted and do nothing: zoomtune leaves handlers to the application."""

from __future__ import annotations

import logging as _logging

CRITICAL, FATAL, ERROR, WARNING, WARN, INFO, DEBUG = (_logging.CRITICAL, _logging.FATAL, _logging.ERROR,
                                                     _logging.WARNING, _logging.WARN, _logging.INFO, _logging.DEBUG)
_LOGGER = _logging.getLogger("zoomtune")


def set_verbosity(verbosity: int) -> None:
    """Set the level of the "zoomtune" logger (Optuna's levels are Python's)."""
    _LOGGER.setLevel(verbosity)


def get_verbosity() -> int:
    """The level of the "zoomtune" logger."""
    return _LOGGER.getEffectiveLevel()


def get_logger(name: str) -> _logging.Logger:
    """A child of the "zoomtune" logger."""
    return _LOGGER.getChild(name)


def disable_default_handler() -> None:
    """Accepted for Optuna scripts; zoomtune installs no handler of its own."""


def enable_default_handler() -> None:
    """Accepted for Optuna scripts; zoomtune installs no handler of its own."""


def disable_propagation() -> None:
    """Accepted for Optuna scripts; zoomtune's logger always propagates."""


def enable_propagation() -> None:
    """Accepted for Optuna scripts; zoomtune's logger always propagates."""


__all__ = ["CRITICAL", "DEBUG", "ERROR", "FATAL", "INFO", "WARN", "WARNING", "disable_default_handler",
           "disable_propagation", "enable_default_handler", "enable_propagation", "get_logger", "get_verbosity",
           "set_verbosity"]
