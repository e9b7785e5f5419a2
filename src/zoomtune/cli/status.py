"""`zoomtune status [STUDY]`: studies, or one study's trials, at a glance.

A glance reads no more than it shows, so that it stays quick on a study of 100,000 trials: the
counts come from the storage's summary, only the table's trials are read, and the
parameters are ranked from every complete trial only in a study of at most
`IMPORTANCE_MAX_TRIALS` trials (or with `--importance`). `--best` and `--limit 0` read the whole study.
The listing of studies counts the Pareto front of a study of several objectives (which reads its complete
trials) only up to `LISTING_FRONT_MAX_TRIALS` complete trials.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from zoomtune.cli.common import console, fmt_value, open_existing_storage, remember_study, storage_option
from zoomtune.cli.front import describe_constraints, objective_headers, objective_labels

if TYPE_CHECKING:  # the command imports the library only when it runs, so `zoomtune --help` stays quick
    from zoomtune.records import StudySummary, TrialRecord
    from zoomtune.storage import Storage
    from zoomtune.study import Study

#: above this many trials, ranking the parameters (which reads every complete trial) waits for --importance
IMPORTANCE_MAX_TRIALS = 5_000
#: the listing counts the Pareto front of a study of several objectives (reading its complete trials: about
#: 0.4 s per 5,000 on SQLite) only up to this many complete trials
LISTING_FRONT_MAX_TRIALS = 5_000
#: the listing's cell for a front it did not count
_FRONT_UNCOUNTED = "front: see status"


@click.command()
@click.argument("study", required=False)
@storage_option
@click.option("--limit", type=click.IntRange(min=0), default=30, show_default=True,
              help="Trials to show (0: all).")
@click.option("--best", "sort_best", is_flag=True,
              help="Sort trials best first instead of by number (reads every trial of the study).")
@click.option("--tree", is_flag=True, help="Draw the lineage: branches, PBT copies, retries and nudges.")
@click.option("--importance", "rank", is_flag=True,
              help=f"Say which parameters mattered even in a study of more than {IMPORTANCE_MAX_TRIALS:,} trials "
                   "(reads every complete trial).")
def status(study: str | None, storage: str | None, limit: int, sort_best: bool, tree: bool, rank: bool) -> None:
    """List the studies in the storage, or the trials of STUDY."""
    from rich.table import Table

    from zoomtune.records import EventKind, TrialState, ZoomPayload
    from zoomtune.study import load_study

    backend = open_existing_storage(storage)
    out = console()
    if study is None:
        summaries = backend.list_studies()
        running = [s for s in summaries if s.counts[TrialState.RUNNING]]
        for summary in running:  # each with its own stored heartbeat interval
            load_study(summary.name, backend).reap_stale_trials()
        if running:  # counted again: some may have been reaped
            summaries = backend.list_studies()
        out.print(studies_table(backend, summaries))
        return
    remember_study(study)
    loaded = load_study(study, backend)  # with the study's stored heartbeat interval
    loaded.reap_stale_trials()  # a trial whose worker died shows as FAILED, not RUNNING forever
    if tree:
        out.print(lineage_tree(loaded))
        return
    summary = next(s for s in backend.list_studies() if s.name == loaded.name)
    shown = shown_trials(loaded, summary.n_trials, limit, sort_best)
    names = sorted({name for t in shown for name in t.params})
    counts = ", ".join(f"{summary.counts[state]:,} {state.value.lower()}" for state in TrialState
                       if summary.counts[state])
    objectives = objective_columns(loaded)
    constrained = any(t.constraints for t in shown)
    feasible = " (feasible trials only)" if constrained else ""
    if loaded.is_multi_objective:
        front = [t.number for t in loaded.best_trials]
        best = f"Pareto front{feasible}: {len(front)} trial{'' if len(front) == 1 else 's'} " \
               f"({', '.join(map(str, front[:20]))}{', ...' if len(front) > 20 else ''})" if front \
            else "no Pareto front yet"
    else:
        best = f"best {fmt_value(summary.best_value)}{feasible}"
    table = Table(title=f"study {fmt_value(loaded.name)} ({', '.join(objectives.values())}) in {backend.url}: "
                        f"showing {len(shown)} of {summary.n_trials} trials",
                  caption=f"{counts or 'no trials'}; {best}")
    kept = ("constraints",) if constrained else ()
    for column in ("#", "state", *objectives, *kept, *names, "steps", "seconds", "error"):
        table.add_column(column, justify="left" if column in ("state", "error") else "right", overflow="fold")
    colour = {TrialState.COMPLETE: "green", TrialState.FAILED: "red", TrialState.STOPPED: "yellow",
              TrialState.RUNNING: "cyan", TrialState.WAITING: "blue"}
    for t in shown:
        values = t.values if t.values is not None else (None,) * len(objectives)
        table.add_row(str(t.number), f"[{colour[t.state]}]{t.state.value}[/]", *(fmt_value(v) for v in values),
                      *(fmt_value(describe_constraints(t)) for _ in kept),
                      *(fmt_value(t.params.get(n)) for n in names), str(len(t.intermediate_values)),
                      f"{t.duration:.2f}" if t.duration is not None else "-", fmt_value((t.error or "")[:80]))
    out.print(table)
    print_importance(out, loaded, summary.n_trials, rank)
    for zoom in loaded.events(EventKind.ZOOM):
        payload = zoom.payload
        assert isinstance(payload, ZoomPayload)
        boxes = " or ".join(f"{text} ({box['change']}: {box['why']})" if box.get("why") else text
                            for text, box in zip(payload.described, payload.boxes, strict=False))
        out.print(f"coarse to fine: round {payload.round} searched {fmt_value(boxes)} "
                  f"(boxes made from {payload.n_trials} finished trials)")


def studies_table(backend: Storage, summaries: list[StudySummary]) -> Any:
    """The listing: one row per study with its trial counts and its best value (several objectives: the size of
    its Pareto front, see `best_cell`)."""
    from rich.table import Table

    from zoomtune.records import TrialState

    cells = [best_cell(backend, s) for s in summaries]
    uncounted = any(cell == _FRONT_UNCOUNTED for cell in cells)
    table = Table(title=f"studies in {backend.url}",
                  caption=f"the front of a study of more than {LISTING_FRONT_MAX_TRIALS:,} complete trials: "
                          "`zoomtune status STUDY` counts it" if uncounted else None)
    for column in ("study", "direction", "trials", "complete", "running", "failed", "stopped", "best"):
        table.add_column(column, justify="left" if column in ("study", "direction") else "right")
    for s, cell in zip(summaries, cells, strict=True):
        c = s.counts
        table.add_row(fmt_value(s.name), ", ".join(d.value for d in s.directions), str(s.n_trials),
                      str(c[TrialState.COMPLETE]), str(c[TrialState.RUNNING]), str(c[TrialState.FAILED]),
                      str(c[TrialState.STOPPED]), cell)
    return table


def best_cell(backend: Storage, summary: StudySummary) -> str:
    """The listing's "best" of a study: its best value, or with several objectives its Pareto front's size
    ("front: 5 trials", feasible ones only when it has constraints); "-" when there is none yet. A front of
    more than `LISTING_FRONT_MAX_TRIALS` complete trials is left to `zoomtune status STUDY`."""
    from zoomtune.records import TrialState
    from zoomtune.study import load_study

    if len(summary.directions) == 1:
        return fmt_value(summary.best_value)
    if summary.counts[TrialState.COMPLETE] > LISTING_FRONT_MAX_TRIALS:
        return _FRONT_UNCOUNTED
    size = len(load_study(summary.name, backend).best_trials) if summary.counts[TrialState.COMPLETE] else 0
    return f"front: {size} trial{'' if size == 1 else 's'}" if size else "-"


def objective_columns(study: Study) -> dict[str, str]:
    """The value columns of the trials table, each with its direction: "value", or one per objective
    ("size (min)": not to be confused with the table's other columns, say a metric called "error")."""
    if not study.is_multi_objective:
        return {"value": study.direction.value}
    return {header: f"{direction.value} {name}" for header, name, direction
            in zip(objective_headers(study), objective_labels(study), study.directions, strict=True)}


def shown_trials(study: Study, n_trials: int, limit: int, sort_best: bool) -> list[TrialRecord]:
    """The trials the table shows: the last `limit` by number (numbers run from 0 to `n_trials` - 1), read
    alone; best first (in a multi-objective study: the Pareto front first), or all of them (`limit` 0), from
    the whole study."""
    if sort_best or limit == 0:
        trials = study.trials
        if sort_best and study.is_multi_objective:
            front = {t.number for t in study.best_trials}
            trials = [t for t in trials if t.number in front] + [t for t in trials if t.number not in front]
        elif sort_best:
            scored = sorted((t for t in trials if t.value is not None), key=lambda t: t.value,  # type: ignore
                            reverse=study.direction.value == "maximize")
            trials = scored + [t for t in trials if t.value is None]
        return trials if limit == 0 else trials[:limit]
    return study.storage.get_trials(study.study_id, from_number=max(0, n_trials - limit))


def print_importance(out: Any, study: Study, n_trials: int, rank: bool) -> None:
    """The line saying which parameters mattered (nothing with too few complete trials); in a big study
    only when asked for, since it reads every complete trial."""
    from zoomtune.records import TrialState

    if n_trials > IMPORTANCE_MAX_TRIALS and not rank:
        out.print(f"what mattered: `zoomtune status {study.name} --importance` ranks the parameters (it reads "
                  f"all {n_trials:,} trials), as does `zoomtune report {study.name}`", markup=False, highlight=False)
        return
    for line in importance_lines(study, study.get_trials((TrialState.COMPLETE,))):
        out.print(line, markup=False, highlight=False)


def importance_lines(study: Study, trials: list[TrialRecord]) -> list[str]:
    """Which parameters mattered: one line, or one per objective ("what mattered for size ...") in a study of
    several; none with too few complete trials."""
    from zoomtune.importance import describe, importance

    labels = objective_labels(study) if study.is_multi_objective else (None,)
    lines = [describe(importance(trials, direction, objective=i, objective_name=label))
             for i, (direction, label) in enumerate(zip(study.directions, labels, strict=True))]
    return [line for line in lines if line]


def lineage_tree(study: Any) -> Any:
    """The study's lineage as a Rich tree: each trial with its state, value, how it was branched
    and the nudges it took."""
    from rich.tree import Tree

    root = Tree(f"lineage of {fmt_value(study.name)}")

    def label(node: Any) -> str:
        text = f"trial {node.number} {node.state.value} {fmt_value(node.value)}"
        if node.parent is not None:
            changed = ", ".join(f"{k}={fmt_value(v)}" for k, v in node.overrides.items())
            reason = node.reason.value if node.reason is not None else "branch"
            text += f"  ← {reason}" + (f" from step {node.step}" if node.step is not None else " from scratch")
            text += f" ({changed})" if changed else ""
        for nudge in node.nudges:
            change = ", ".join(f"{k} {fmt_value(nudge.old.get(k))}→{fmt_value(v)}" for k, v in nudge.new.items())
            text += f"\n  nudged at step {nudge.step}: {change}"
        return text

    def grow(branch: Any, node: Any) -> None:
        for child in sorted(node.children, key=lambda c: c.number):
            grow(branch.add(label(child)), child)

    nodes = study.lineage()
    if not nodes:
        root.add("no branches or nudges yet")
    for node in nodes:
        grow(root.add(label(node)), node)
    return root
