"""The README's picture of a multi-objective study: the dashboard's front and hypervolume figures.

Runs a seeded NSGA-II (`zt.samplers.NSGA2Sampler`) study on ZDT1 (8-d) from `_mo_problems`, with a cap
on f2 as a constraint (``f2 - cap <= 0``, like a "model size at most N" limit, so the picture shows
infeasible trials too; a problem's own constraint, if it has one, is kept as well), writes its report
(`zoomtune.report`) and has headless Chromium (Playwright, /usr/bin/chromium) draw the report's "front of
the objectives" row, the same figure code the dashboard runs, into a PNG. Without Playwright or Chromium
it draws the same data (`zoomtune.plot.front_data.pareto_payload`) with matplotlib.

    python benchmarks/front_picture.py [--trials 200] [--seed 0] [--cap 4.5] [--problem "ZDT1 (8-d)"]
                                       [--out docs/multi_objective_front.png] [--matplotlib]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _mo_problems import MOProblem, problem
from dashboard_load import CHROMIUM, CHROMIUM_ARGS

import zoomtune as zt
from zoomtune.plot.front_data import pareto_payload
from zoomtune.report import report_html

def run_study(prob: MOProblem, trials: int, seed: int, cap: float | None) -> zt.Study:
    """The seeded NSGA-II study (in memory) of `prob`, with the constraint `cap` on the last objective (none
    when None) and the problem's own constraint when it has one."""
    study = zt.create_study(f"NSGA-II on {prob.name}", directions=["minimize"] * prob.objectives,
                            metric_names=list(prob.metrics), sampler=zt.samplers.NSGA2Sampler(seed=seed),
                            space=prob.space)

    def objective(trial: zt.Trial) -> tuple[float, ...]:
        values = prob.evaluate(trial.params)
        violation = prob.violation(values)
        if violation is not None:
            trial.set_constraint("problem", violation)
        if cap is not None:
            trial.set_constraint(f"{prob.metrics[-1]}_cap", values[-1] - cap)
        return values

    study.optimize(objective, n_trials=trials, catch=())
    return study


def draw_with_chromium(study: zt.Study, out: Path) -> bool:
    """Screenshot the report's front row (front and hypervolume) in headless Chromium; False without it."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return False
    if not os.path.exists(CHROMIUM):
        return False
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as p:
        page_file = Path(folder) / "report.html"
        page_file.write_text(report_html(study), encoding="utf-8")
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900}, device_scale_factor=1.5)
        page.goto(page_file.as_uri())
        page.wait_for_selector("body[data-ready=study]", timeout=120_000)
        page.locator("#plot-front").locator("xpath=..").screenshot(path=str(out))
        browser.close()
    return True


def draw_with_matplotlib(study: zt.Study, out: Path) -> None:
    """The same data as the dashboard's figures, drawn by matplotlib (2 objectives)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trials = study.trials
    data = pareto_payload(trials, study.directions, study.metric_names)
    front = set(data["front"])
    x, y = data["values"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    groups = {"dominated": [], "infeasible": [], "Pareto front": []}
    for i, t in enumerate(trials):
        if t.state is zt.TrialState.COMPLETE and x[i] is not None:
            name = "infeasible" if data["violation"][i] > 0 else "Pareto front" if t.number in front else "dominated"
            groups[name].append(i)
    styles = {"dominated": {"color": "#2f6fdb", "alpha": 0.55, "s": 14},
              "infeasible": {"facecolors": "none", "edgecolors": "#9aa3ad", "s": 14},
              "Pareto front": {"color": "#c23b32", "s": 30}}
    for name, indices in groups.items():
        left.scatter([x[i] for i in indices], [y[i] for i in indices], label=name, **styles[name])
    line = sorted((x[i], y[i]) for i in groups["Pareto front"])
    # the corner on the dominated side, as in zoomtune/plot/figures/front.py
    corner = "post" if study.directions[0] is zt.Direction.MINIMIZE else "pre"
    left.step([a for a, _ in line], [b for _, b in line], where=corner, color="#c23b32", linewidth=1)
    names = [f"{o['name']} ({o['direction']})" for o in data["objectives"]]
    left.set(xlabel=names[0], ylabel=names[1],
             title=f"Pareto front: {len(groups['Pareto front'])} of {sum(map(len, groups.values()))} complete trials")
    left.legend()
    hv = data["hypervolume"]
    right.step(hv["number"], hv["value"], where="post", color="#c23b32")
    right.set(xlabel="trial", ylabel="hypervolume (0..1)", title="Normalised hypervolume of the feasible front")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problem", default="ZDT1 (8-d)", help="a 2-objective problem of _mo_problems")
    ap.add_argument("--cap", type=float, default=4.5, help="constraint: the last objective at most this (nan: none)")
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "docs" / "multi_objective_front.png"))
    ap.add_argument("--matplotlib", action="store_true", help="draw with matplotlib even when Chromium is there")
    args = ap.parse_args(argv)
    prob = problem(args.problem)
    study = run_study(prob, args.trials, args.seed, None if math.isnan(args.cap) else args.cap)
    out = Path(args.out)
    how = "Chromium (the report's figures)"
    if args.matplotlib or not draw_with_chromium(study, out):
        draw_with_matplotlib(study, out)
        how = "matplotlib (the report's data)"
    data = pareto_payload(study.trials, study.directions, study.metric_names)
    infeasible = sum(v > 0 for v in data["violation"])
    hv = data["hypervolume"]["value"][-1] if data["hypervolume"] else math.nan
    print(f"{prob.name}: {args.trials} NSGA-II trials (seed {args.seed}), {infeasible} infeasible, front of "
          f"{len(data['front'])} trials, normalised hypervolume {hv:.4f} (observed box); drew {out} with {how}")
    return out


if __name__ == "__main__":
    main()
