// The trials table: sort by any column, filter by state, page through 10,000 trials quickly
// (only one page of rows is ever in the DOM). Cells are text nodes.
import { clear, el, fmt, fmtSeconds, stateBadge, trialHref } from "./dom.js";

const PAGE = 100;
const STATES = ["RUNNING", "WAITING", "COMPLETE", "STOPPED", "FAILED"];

/** Renders a study's trials into `container`; keeps sort, filter and page across updates. */
export class TrialsTable {
  constructor(container, studyName) {
    this.container = container;
    this.name = studyName;
    this.sortKey = "number";
    this.desc = false;
    this.state = "";
    this.page = 0;
    this.study = null;
  }

  columns() {
    const study = this.study, cols = study.trials;
    const base = [
      {key: "number", label: "#", get: (i) => cols.number[i]},
      {key: "state", label: "state", text: true, get: (i) => cols.state[i], cell: (i) => stateBadge(cols.state[i])},
      ...this.objectiveColumns(),
    ];
    const params = study.params.map((p) => ({key: `p:${p.name}`, label: p.name, text: p.scale === "categorical",
                                             get: (i) => cols.params[p.name][i]}));
    const tail = [
      {key: "n_steps", label: "reports", get: (i) => cols.n_steps[i]},
      {key: "last", label: "last report", get: (i) => cols.last[i]},
      {key: "duration", label: "duration", get: (i) => cols.duration[i], show: (v) => fmtSeconds(v)},
      {key: "parent", label: "parent", get: (i) => cols.parent[i]},
      {key: "error", label: "error", text: true, get: (i) => cols.error[i]},
    ];
    return [...base, ...params, ...tail];
  }

  /** The value column, or in a multi-objective study one per objective and the constraint violation. */
  objectiveColumns() {
    const study = this.study, pareto = study.pareto;
    if (!pareto) return [{key: "value", label: "value", get: (i) => study.trials.value[i]}];
    return [...pareto.objectives.map((o, k) => ({key: `o:${k}`, label: o.name, get: (i) => pareto.values[k][i]})),
            {key: "violation", label: "violation", get: (i) => pareto.violation[i]}];
  }

  /** Show new data (a fresh payload), keeping the user's sort, filter and page. */
  update(study) {
    this.study = study;
    this.render();
  }

  rows(columns) {
    const cols = this.study.trials, out = [];
    for (let i = 0; i < cols.number.length; i++) if (!this.state || cols.state[i] === this.state) out.push(i);
    const column = columns.find((c) => c.key === this.sortKey) || columns[0];
    const sign = this.desc ? -1 : 1;
    out.sort((a, b) => {
      const x = column.get(a), y = column.get(b);
      if (x === y) return cols.number[a] - cols.number[b];
      if (x === null || x === undefined) return 1;  // missing values last either way
      if (y === null || y === undefined) return -1;
      return (typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y))) * sign;
    });
    return out;
  }

  render() {
    const columns = this.columns(), rows = this.rows(columns), cols = this.study.trials;
    const pages = Math.max(1, Math.ceil(rows.length / PAGE));
    this.page = Math.min(this.page, pages - 1);
    const counts = {};
    for (const s of cols.state) counts[s] = (counts[s] || 0) + 1;
    const filter = el("select", {"data-testid": "state-filter", onchange: (e) => {
      this.state = e.target.value; this.page = 0; this.render(); }},
      el("option", {value: ""}, `all states (${cols.number.length})`),
      STATES.map((s) => el("option", {value: s, selected: this.state === s}, `${s} (${counts[s] || 0})`)));
    const toolbar = el("div", {class: "toolbar"}, filter,
      el("button", {onclick: () => { this.page = Math.max(0, this.page - 1); this.render(); },
                    disabled: this.page === 0}, "‹ previous"),
      el("span", {class: "muted"}, `rows ${rows.length ? this.page * PAGE + 1 : 0}–${Math.min(rows.length, (this.page + 1) * PAGE)} of ${rows.length}`),
      el("button", {onclick: () => { this.page = Math.min(pages - 1, this.page + 1); this.render(); },
                    disabled: this.page >= pages - 1}, "next ›"));
    const head = el("tr", {}, columns.map((c) => el("th", {
      class: `${c.text ? "text " : ""}${c.key === this.sortKey ? (this.desc ? "sorted-desc" : "sorted-asc") : ""}`,
      "data-key": c.key, title: "sort",
      onclick: () => { this.desc = this.sortKey === c.key ? !this.desc : false; this.sortKey = c.key; this.render(); },
    }, c.label)));
    const body = el("tbody", {});
    for (const i of rows.slice(this.page * PAGE, (this.page + 1) * PAGE)) {
      const number = cols.number[i];
      body.append(el("tr", {"data-testid": "trial-row", "data-number": number,
                            onclick: () => { location.hash = trialHref(this.name, number); }},
        columns.map((c) => {
          const v = c.get(i);
          return el("td", {class: c.text ? "text" : "", title: v === null || v === undefined ? null : String(v)},
                    c.cell ? c.cell(i) : c.show ? c.show(v) : fmt(v));
        })));
    }
    clear(this.container).append(toolbar, el("div", {style: "overflow:auto; max-height: 640px"},
                                             el("table", {"data-testid": "trials-table"}, el("thead", {}, head), body)));
  }
}
