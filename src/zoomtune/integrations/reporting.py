"""What every framework callback does with a trial: read the monitored metric from the framework's logs,
report it at a step, hand back the nudged hyperparameters to apply to the live optimizer (panda mode),
and on a stop mark the trial to end STOPPED (`Trial.end_stopped`), so that the framework ends its fit
cleanly and the objective returns as usual: no exception has to cross the framework's training loop."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from zoomtune.trial import Trial

T = TypeVar("T")

# trial parameter -> key of a torch optimizer's param group, applied live when the parameter is nudged
DEFAULT_LIVE: Mapping[str, str] = {"lr": "lr", "learning_rate": "lr", "momentum": "momentum"}


@dataclass(frozen=True)
class ReportOutcome:
    """What one report decided: whether the fit should stop now, and the nudged parameters (name -> new
    value) the callback should apply to the optimizer before training goes on."""

    stop: bool
    changes: Mapping[str, Any] = field(default_factory=dict)


def as_float(value: Any) -> float:
    """A logged metric as a float: Python numbers, NumPy scalars and one-element tensors (anything with
    ``.item()``)."""
    if hasattr(value, "item"):
        value = value.item()
    return float(value)


class TrialReporter:
    """The part of a framework callback that talks to the trial.

    `monitor` names the metric in the framework's logs (``"val_acc"``); `live` maps trial parameters to
    optimizer keys applied live when a nudge arrives (default: lr / learning_rate -> ``lr``, momentum ->
    ``momentum``).
    """

    def __init__(self, trial: Trial, monitor: str, live: Mapping[str, str] | None = None) -> None:
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(f"monitor must name a logged metric (a non-empty string); got {monitor!r}")
        self.trial = trial
        self.monitor = monitor
        self.live: dict[str, str] = dict(DEFAULT_LIVE if live is None else live)
        self._applied: dict[str, Any] = {name: trial.params[name] for name in self.live if name in trial.params}
        self.stopped_at: int | None = None

    def metric(self, logs: Mapping[str, Any]) -> float | None:
        """The monitored metric from `logs`, or None when it is not there (yet); a metric that is
        there but is no number raises, naming it."""
        if self.monitor not in logs:
            return None
        try:
            return as_float(logs[self.monitor])
        except (TypeError, ValueError):
            raise TypeError(f"trial {self.trial.number}: the monitored metric {self.monitor!r} must be a number; "
                            f"got {logs[self.monitor]!r}") from None

    def missing(self, logs: Mapping[str, Any]) -> KeyError:
        """The error for a monitored metric that never appeared: it lists the metrics that did."""
        shown = ", ".join(sorted(map(str, logs))) or "none"
        return KeyError(f"trial {self.trial.number}: the monitored metric {self.monitor!r} was not logged "
                        f"(logged: {shown}); pass monitor= one of them")

    def report(self, value: float, step: int) -> ReportOutcome:
        """Report `value` at `step`; NaN is reported too (the scheduler and the result treat it)."""
        self.trial.report(value, step=step)
        stop = self.trial.should_stop()
        if stop and self.stopped_at is None:
            self.stopped_at = step
            self.trial.end_stopped()  # the objective may return once the fit has ended: the trial is STOPPED
        return ReportOutcome(stop, self._changes())

    def _changes(self) -> dict[str, Any]:
        changed = {name: self.trial.params[name] for name in self.live
                   if name in self.trial.params and self.trial.params[name] != self._applied.get(name)}
        self._applied.update(changed)
        return changed

    @property
    def stopped(self) -> bool:
        """Whether a report was told to stop."""
        return self.stopped_at is not None

    def checkpoint_of(self, kind: type[T]) -> T | None:
        """The checkpoint the trial starts from (its latest; for a branch, its parent's at the branch step) when
        it is a `kind` this callback saved; None when there is none. One that other code saved is refused."""
        state = self.trial.load_checkpoint()
        if state is None or isinstance(state, kind):
            return state
        raise TypeError(f"trial {self.trial.number}: its checkpoint is a {type(state).__name__}, not one "
                        "ZoomtuneCallback saved; pass checkpoint=False to start from scratch")

    def apply_to_param_groups(self, groups: Iterable[MutableMapping[str, Any]],
                              changes: Mapping[str, Any]) -> list[str]:
        """Set each changed parameter's optimizer key in every param group that has it (torch optimizers);
        returns the keys set."""
        done: list[str] = []
        for group in groups:
            for name, value in changes.items():
                key = self.live[name]
                if key in group:
                    group[key] = value
                    if key not in done:
                        done.append(key)
        return done
