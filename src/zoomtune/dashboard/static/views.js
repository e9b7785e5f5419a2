// The studies list and the study page. Each view draws once, then `poll()` refreshes it in place.
import { clear, el, fmt, link, studyHref, trialHref } from "./dom.js";
import { draw } from "./plots.js";
import { TrialsTable } from "./table.js";

/** A study's direction, or "k objectives" (their directions on hover) when it has several. */
function directionCell(summary) {
  const directions = summary.directions || [summary.direction];
  if (directions.length < 2) return el("td", {class: "text"}, summary.direction);
  return el("td", {class: "text", title: directions.join(", "), "data-testid": "objectives"}, `${directions.length} objectives`);
}

/** Every study in the storage with its counts. */
export class StudiesView {
  constructor(root, source) {
    this.root = root;
    this.source = source;
  }

  async show() {
    this.render(await this.source.studies());
    document.body.dataset.ready = "studies";
  }

  async poll() { this.render(await this.source.studies()); }

  render(studies) {
    const rows = studies.map((s) => el("tr", {"data-testid": "study-row"},
      el("td", {class: "text"}, link(studyHref(s.name), s.name, {"data-testid": "study-link"})),
      directionCell(s), el("td", {}, s.n_trials), el("td", {}, s.counts.COMPLETE),
      el("td", {}, s.counts.RUNNING), el("td", {}, s.counts.FAILED), el("td", {}, s.counts.STOPPED),
      el("td", {"data-testid": "best"}, fmt(s.best_value))));
    const head = el("tr", {}, ["study", "direction", "trials", "complete", "running", "failed", "stopped", "best"]
      .map((h, i) => el("th", {class: i < 2 ? "text" : ""}, h)));
    clear(this.root).append(el("h1", {}, "Studies"),
      studies.length ? el("table", {"data-testid": "studies-table"}, el("thead", {}, head), el("tbody", {}, rows))
                     : el("p", {class: "muted"}, "No study in this storage yet."));
  }
}

/** One study: summary, zoom rounds, plots and the trials table; live while trials run. */
export class StudyView {
  constructor(root, source, name) {
    this.root = root;
    this.source = source;
    this.name = name;
    this.data = null;
  }

  async show() {
    const start = performance.now();
    const data = await this.source.study(this.name);
    const fetched = performance.now();
    this.layout(data);
    await this.update(data);
    window.__ztTimings.fetch = Math.round(fetched - start);
    window.__ztTimings.total = Math.round(performance.now() - start);
    document.body.dataset.ready = "study";
  }

  async poll() {
    const data = await this.source.study(this.name, this.data && this.data.rev);
    if (!data.unchanged) await this.update(data);
  }

  layout(data) {
    const plot = (id) => el("div", {class: "plot card", id, "data-testid": id});
    const pareto = data.pareto;
    this.summary = el("div", {"data-testid": "study-summary"});
    this.zooms = el("div", {});
    this.table = el("div", {});
    this.lineage = plot("plot-lineage");
    clear(this.root).append(
      el("h1", {}, this.name), this.summary, this.zooms,
      ...(pareto ? [el("h2", {}, "The front of the objectives"),
                    el("div", {class: "grid2"}, plot("plot-front"), plot("plot-hypervolume"))] : []),
      el("div", {class: "grid2"}, plot("plot-history"), plot("plot-curves")),
      el("h2", {}, pareto ? `Each hyperparameter against the first objective (${pareto.objectives[0].name}), on its own scale`
                          : "Each hyperparameter against the objective, on its own scale"), plot("plot-params"),
      el("div", {class: "grid2"}, plot("plot-pair"), plot("plot-parcoords")),
      plot("plot-importance"), this.lineage, el("h2", {}, "Trials"), this.table);
    this.trialsTable = new TrialsTable(this.table, this.name);
  }

  /** The front in words: its size, its first trials (linked) and the last normalised hypervolume. */
  frontSummary(data) {
    const pareto = data.pareto, hv = pareto.hypervolume, shown = pareto.front.slice(0, 20);
    const links = shown.flatMap((n, k) => [k ? ", " : "", link(trialHref(this.name, n), `#${n}`)]);
    return el("p", {"data-testid": "front-summary"},
      pareto.front.length ? [`Pareto front: ${pareto.front.length} trial${pareto.front.length === 1 ? "" : "s"} (`,
                             ...links, pareto.front.length > shown.length ? ", …)" : ")"]
                          : "No feasible complete trial yet, so no Pareto front.",
      hv ? ` · normalised hypervolume ${fmt(hv.value[hv.value.length - 1])}`
         : pareto.front.length ? " · hypervolume drawn up to 3 objectives" : "");
  }

  renderSummary(data) {
    const cols = data.trials, counts = {};
    for (const s of cols.state) counts[s] = (counts[s] || 0) + 1;
    let best = null;
    for (let i = 0; i < cols.number.length; i++) {
      const v = cols.value[i];
      if (cols.state[i] !== "COMPLETE" || v === null) continue;
      if (best === null || (data.direction === "minimize" ? v < cols.value[best] : v > cols.value[best])) best = i;
    }
    const objectives = data.pareto && data.pareto.objectives;
    const heading = objectives ? `${objectives.length} objectives: ${objectives.map((o) => `${o.direction} ${o.name}`).join(", ")}`
                               : data.direction;
    const parts = [`${heading} · ${cols.number.length} trials`];
    for (const s of ["RUNNING", "COMPLETE", "STOPPED", "FAILED", "WAITING"]) if (counts[s]) parts.push(`${counts[s]} ${s.toLowerCase()}`);
    clear(this.summary).append(el("p", {class: "muted"}, parts.join(" · ")),
      objectives ? this.frontSummary(data) : best === null ? el("p", {}, "No complete trial yet.") :
        el("p", {}, "Best: ", link(trialHref(this.name, cols.number[best]), `trial #${cols.number[best]}`),
           ` value ${fmt(cols.value[best])} — `,
           data.params.map((p) => `${p.name}=${fmt(cols.params[p.name][best])}`).join(", ")));
    clear(this.zooms);
    if (data.zooms.length) {
      this.zooms.append(el("div", {class: "card", "data-testid": "zoom-rounds"}, el("b", {}, "Coarse to fine"),
        el("ul", {class: "zooms"}, data.zooms.map((z) => el("li", {},
          `round ${z.round} searched ${z.described.join(" or ")} (the best of ${z.n_trials} trials, boxed; best ${fmt(z.best)})`)))));
    }
  }

  async update(data) {
    this.data = data;
    const t0 = performance.now();
    this.renderSummary(data);
    this.trialsTable.update(data);
    const tableMs = Math.round(performance.now() - t0);
    const open = (event) => {
      const point = event.points && event.points[0];
      if (point && point.customdata !== undefined) location.hash = trialHref(this.name, point.customdata);
    };
    const timings = {table: tableMs};
    for (const [kind, fig] of Object.entries(data.figures)) {  // built in Python: zoomtune.plot.page
      const id = `plot-${kind}`, div = this.root.querySelector(`#${id}`);
      if (!div) continue;  // the front and the hypervolume have a place only in a multi-objective study
      div.style.display = fig ? "" : "none";
      if (!fig) continue;
      const start = performance.now();
      await draw(div, fig);
      timings[id] = Math.round(performance.now() - start);
      if (!div.dataset.bound) { div.on("plotly_click", open); div.dataset.bound = "1"; }
    }
    window.__ztTimings = timings;  // read by benchmarks/dashboard_load.py
    document.body.dataset.rev = String(data.rev);
  }
}
