"""A self-contained HTML report of one study: the dashboard's study page, offline, in one file.

The file holds plotly.js (from the installed ``plotly`` package), the dashboard's style sheet
and scripts (its ES modules joined into one classic script), and the study's data as JSON in a
``<script type="application/json">`` element, so it opens from ``file://`` with no network.

>>> import zoomtune as zt
>>> from zoomtune.report import report_html
>>> study = zt.create_study("r", sampler=zt.samplers.RandomSampler(seed=0))
>>> study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=5)
>>> "zt-data" in report_html(study)
True
"""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path
from typing import Any

from zoomtune.dashboard.assets import STATIC, plotly_js
from zoomtune.records import TrialState
from zoomtune.storage import Storage
from zoomtune.study import Study, load_study

# the dashboard's modules in dependency order (each only imports modules listed before it)
MODULES = ("dom.js", "source.js", "plots.js", "table.js", "views.js", "trial.js", "main.js")
MAX_FAILED_DETAILS = 500
_IMPORT = re.compile(r"^import\s.*?from\s+[\"']\./[\w.]+[\"'];?\s*$", re.MULTILINE)
_EXPORT = re.compile(r"^export\s+(?=(?:async\s+)?(?:function|class|const|let)\b)", re.MULTILINE)


def bundle_scripts(folder: Path = STATIC, modules: tuple[str, ...] = MODULES) -> str:
    """The dashboard's ES modules as one classic script: imports dropped, `export` keywords
    removed, the whole wrapped in a function so nothing leaks into the page's globals."""
    parts = []
    for name in modules:
        source = (folder / name).read_text(encoding="utf-8")
        source = _EXPORT.sub("", _IMPORT.sub("", source))
        if re.search(r"^\s*(import|export)\s", source, re.MULTILINE):
            raise ValueError(f"{name}: an import or export the report bundler does not understand")
        parts.append(f"// ---- {name}\n{source}")
    return "(() => {\n\"use strict\";\n" + "\n".join(parts) + "\n})();\n"


def _script_safe(text: str) -> str:
    """Text that cannot end the <script> element it sits in."""
    return re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE)


def _json_for_html(data: Any) -> str:
    """JSON for a <script type="application/json"> element: '<', '>' and '&' escaped as \\u00XX."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def report_data(study: Study) -> dict[str, Any]:
    """What a report embeds: the study page's data (the dashboard's), its summary line and details of notable
    trials (those whose curves or lineage its figures draw, and failed ones)."""
    from zoomtune import __version__
    from zoomtune.dashboard.payload import page_data, trial_payload
    from zoomtune.plot.data import shown_events, study_data

    trials = study.trials
    events = shown_events(study)
    names = study.storage.get_study(study.name).objective_names()
    full = study_data(study.name, study.directions, trials, events, objective_names=names)
    data = page_data(full)
    data["rev"] = 1
    wanted = {int(n) for n in full["curves"]}
    wanted |= set([t.number for t in trials if t.state is TrialState.FAILED][-MAX_FAILED_DETAILS:])
    wanted |= {node["number"] for node in full["lineage"]["nodes"]}
    by_number = {t.number: t for t in trials}
    details = {str(n): trial_payload(by_number[n]) for n in sorted(wanted) if n in by_number}
    counts = {state.value: 0 for state in TrialState}
    for t in trials:
        counts[t.state.value] += 1
    columns = full["trials"]
    values = [v for v, s in zip(columns["value"], columns["state"], strict=True) if s == "COMPLETE" and v is not None]
    best = (min(values) if study.directions[0].value == "minimize" else max(values)) \
        if values and not study.is_multi_objective else None
    summary = {"name": study.name, "direction": ", ".join(d.value for d in study.directions),
               "directions": [d.value for d in study.directions],
               "n_trials": len(trials), "counts": counts,
               "best_value": best, "created": None}
    return {"version": __version__, "study": data, "summary": summary, "details": details}


def report_html(study: Study) -> str:
    """The report of `study` as one HTML document (a str)."""
    style = (STATIC / "style.css").read_text(encoding="utf-8")
    title = html.escape(f"zoomtune report: {study.name}")
    return "".join([
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; ",
        "script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:; ",
        "font-src data:; worker-src blob:; base-uri 'none'; form-action 'none'\">\n",
        f"<title>{title}</title>\n<style>\n{_script_safe(style)}\n</style>\n",
        "<script>\n", _script_safe(plotly_js().decode("utf-8")), "\n</script>\n</head>\n<body>\n",
        "<header id=\"top\"><a id=\"home\" href=\"#/\">zoomtune report</a><nav id=\"crumbs\"></nav>",
        "<span id=\"live\" class=\"live\"></span></header>\n<main id=\"view\"><p class=\"muted\">loading…</p></main>\n",
        "<script type=\"application/json\" id=\"zt-data\">", _json_for_html(report_data(study)), "</script>\n",
        "<script>\n", _script_safe(bundle_scripts()), "</script>\n</body>\n</html>\n",
    ])


def write_report(study: Study | str, path: str | os.PathLike[str], storage: str | Storage | None = None) -> Path:
    """Write the report of `study` (a Study, or a name in `storage`) to `path`; returns the path."""
    if isinstance(study, str):
        study = load_study(study, storage)
    out = Path(path)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(report_html(study), encoding="utf-8")
    os.replace(tmp, out)
    return out


__all__ = ["bundle_scripts", "report_data", "report_html", "write_report"]
