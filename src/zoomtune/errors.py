"""One small exception hierarchy.

`ZoomtuneError` subclasses are *user errors*: bad input that the user can fix. The CLI prints
their message on one line and exits with status 2. `TrialStopped` is not an error: an
objective raises it to end a trial early when `trial.should_stop()` says so.
"""

from __future__ import annotations

from typing import Any


class ZoomtuneError(Exception):
    """Base of every user error zoomtune raises on purpose."""


class SearchSpaceError(ZoomtuneError, ValueError):
    """A parameter's distribution is invalid: a bug in the objective or the space, raised at once.

    The message always names the parameter (when known), the rule and the offending value:
    ``parameter 'lr': scale 'log' needs low > 0; got low=0.0``.
    """

    def __init__(self, rule: str, got: str, param: str | None = None, where: str | None = None):
        self.rule, self.got, self.param, self.where = rule, got, param, where
        subject = f"parameter {param!r}" if param is not None else (where or "search space")
        super().__init__(f"{subject}: {rule}; got {got}")

    def __reduce__(self) -> tuple[Any, ...]:  # keeps the fields when sent between processes
        return (SearchSpaceError, (self.rule, self.got, self.param, self.where))

    def named(self, param: str) -> SearchSpaceError:
        """The same error, naming the parameter it belongs to."""
        return SearchSpaceError(self.rule, self.got, param=param)


class ConfigError(ZoomtuneError, ValueError):
    """A study file or CLI argument is invalid (names the field and the value)."""

    def __init__(self, field: str, rule: str, got: Any = None, source: str | None = None):
        self._fields = (field, rule, got, source)
        where = f"{source}: " if source else ""
        tail = f"; got {got!r}" if got is not None else ""
        super().__init__(f"{where}{field}: {rule}{tail}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (ConfigError, self._fields)


class StudyNotFoundError(ZoomtuneError, KeyError):
    """No study of that name exists in the storage."""

    def __init__(self, name: str, storage: str):
        self.name, self.storage = name, storage
        super().__init__(name)
        self._msg = f"no study named {name!r} in {storage}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (StudyNotFoundError, (self.name, self.storage))

    def __str__(self) -> str:
        return self._msg


class DuplicatedStudyError(ZoomtuneError):
    """A study of that name already exists (pass load_if_exists=True to continue it)."""


class TrialNotFoundError(ZoomtuneError, KeyError):
    """No trial with that number in the study."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "trial not found"


class TrialStateError(ZoomtuneError):
    """The trial is not in a state that allows what was asked (nudging a finished trial, say)."""


class StorageError(ZoomtuneError):
    """The storage cannot be used as asked (newer schema, bad URL, missing driver)."""


class TrialStopped(Exception):
    """Raise from an objective to end a trial early; the trial ends STOPPED, keeping its last value."""


__all__ = [
    "ConfigError",
    "DuplicatedStudyError",
    "SearchSpaceError",
    "StorageError",
    "StudyNotFoundError",
    "TrialNotFoundError",
    "TrialStateError",
    "TrialStopped",
    "ZoomtuneError",
]
