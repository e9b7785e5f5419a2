"""`Study.trials_dataframe` with Optuna's columns: one per plain attribute (``number``, ``value``,
``datetime_start``, ``datetime_complete``, ``duration``, ``state`` as its name), one per key of a dict
attribute (``params_<name>``, ``user_attrs_<name>``; none when every trial's dict is empty), one per
objective for ``values`` (``values_0``... or ``values_<metric name>``). A study of several objectives shows
``values`` where ``value`` was asked for. Keys are sorted within an attribute, attributes keep their order."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from zoomtune.compat.optuna.trial import FrozenTrial
from zoomtune.errors import ConfigError

if TYPE_CHECKING:
    import pandas

DEFAULT_ATTRS = ("number", "value", "datetime_start", "datetime_complete", "duration", "params", "user_attrs",
                 "system_attrs", "state")
Column = tuple[str, Any]


def _cells(trial: FrozenTrial, attr: str, metric_names: Sequence[str] | None, n_objectives: int) -> dict[Column, Any]:
    """The cells one attribute of one trial fills, keyed by (attribute, key) ('' for a plain attribute)."""
    value = getattr(trial, attr)
    if isinstance(value, enum.Enum):
        value = value.name
    if isinstance(value, dict):
        return {(attr, key): item for key, item in value.items()}
    if attr == "values":
        values = value if value is not None else [None] * n_objectives
        keys: Sequence[Any] = metric_names if metric_names is not None else range(n_objectives)
        return {(attr, key): item for key, item in zip(keys, values, strict=False)}
    if attr == "value":
        return {(attr, metric_names[0] if metric_names else ""): value}
    return {(attr, ""): value}


def trials_dataframe(trials: list[FrozenTrial], n_objectives: int, attrs: Sequence[str] = DEFAULT_ATTRS,
                     multi_index: bool = False, metric_names: Sequence[str] | None = None) -> pandas.DataFrame:
    """The trials as a DataFrame with Optuna's columns (see the module); empty without trials."""
    try:
        import pandas as pd
    except ImportError:
        raise ConfigError("trials_dataframe", "needs pandas: pip install pandas") from None
    if not trials:
        return pd.DataFrame()
    wanted = [("values" if a == "value" and n_objectives > 1 else a.lstrip("_")) for a in attrs]
    unknown = [a for a in wanted if not hasattr(trials[0], a)]
    if unknown:
        raise ValueError(f"trials_dataframe: no trial attribute {unknown[0]!r}; choose from {', '.join(DEFAULT_ATTRS)}")
    rows: list[dict[Column, Any]] = []
    seen: dict[str, set[Column]] = {a: set() for a in wanted}
    for trial in trials:
        row: dict[Column, Any] = {}
        for attr in wanted:
            cells = _cells(trial, attr, metric_names, n_objectives)
            seen[attr].update(cells)
            row.update(cells)
        rows.append(row)
    columns = [c for a in wanted for c in ([(a, name) for name in metric_names] if a == "values" and metric_names
                                           else sorted(seen[a]))]
    frame = pd.DataFrame(rows, columns=pd.MultiIndex.from_tuples(columns))
    if not multi_index:
        frame.columns = ["_".join(str(part) for part in column if part != "") for column in columns]
    return frame


__all__ = ["DEFAULT_ATTRS", "trials_dataframe"]
