// One trial: parameters, learning curve, events, error message; nudge / stop when the
// dashboard runs with a token and the trial is RUNNING.
import { clear, el, fmt, fmtSeconds, link, stateBadge, studyHref, trialHref } from "./dom.js";
import { draw } from "./plots.js";

function kv(pairs) {
  return el("dl", {class: "kv"}, pairs.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

function describeDistribution(d) {
  if (!d) return "-";
  if (d.scale === "categorical") return `one of ${d.choices.map((c) => String(c)).join(", ")}`;
  return `${d.kind} in [${fmt(d.low)}, ${fmt(d.high)}], ${d.scale}`;
}

/** A trial's page. */
export class TrialView {
  constructor(root, source, name, number, config) {
    this.root = root;
    this.source = source;
    this.name = name;
    this.number = number;
    this.config = config || {};
    this.data = null;
    this.message = el("div", {"data-testid": "control-message"});
  }

  async show() {
    this.render(await this.source.trial(this.name, this.number));
    document.body.dataset.ready = "trial";
  }

  async poll() {
    if (this.data && (this.data.state === "RUNNING" || this.data.state === "WAITING")) {
      this.render(await this.source.trial(this.name, this.number));
    }
  }

  render(data) {
    const firstTime = !this.data;
    this.data = data;
    if (firstTime) {
      this.head = el("div", {});
      this.controls = el("div", {});
      this.body = el("div", {});
      this.curve = el("div", {class: "plot card", id: "plot-trial-curve", "data-testid": "plot-trial-curve"});
      clear(this.root).append(this.head, this.controls, this.curve, this.body);
    }
    clear(this.head).append(
      el("h1", {}, `Trial #${data.number} `, stateBadge(data.state)),
      kv([["study", link(studyHref(this.name), this.name)],
          data.values ? ["values", data.values.map((v) => fmt(v)).join(", ")] : ["value", fmt(data.value)],
          ...Object.entries(data.constraints || {}).map(([name, v]) => [`constraint ${name}`, `${fmt(v)}${v > 0 ? " (violated)" : ""}`]),
          ["parent", data.parent === null ? "-" : link(trialHref(this.name, data.parent), `#${data.parent}`)],
          ["started", data.start ? new Date(data.start * 1000).toLocaleString() : "-"],
          ["duration", fmtSeconds(data.duration)], ["reports", data.curve[0].length]]));
    if (firstTime || data.state !== "RUNNING") this.renderControls(data);
    this.curve.style.display = data.figure ? "" : "none";  // built in Python: zoomtune.plot.figures.curves
    if (data.figure) draw(this.curve, data.figure);
    const params = el("table", {"data-testid": "trial-params"},
      el("thead", {}, el("tr", {}, el("th", {class: "text"}, "parameter"), el("th", {class: "text"}, "value"),
                         el("th", {class: "text"}, "distribution"))),
      el("tbody", {}, data.params.map((p) => el("tr", {}, el("td", {class: "text"}, p.name),
        el("td", {class: "text"}, fmt(p.value)), el("td", {class: "text"}, describeDistribution(p.distribution))))));
    const parts = [el("h2", {}, "Parameters"), params];
    if (data.error) parts.push(el("h2", {}, "Error"), el("pre", {class: "error", "data-testid": "trial-error"}, data.error));
    const attrs = Object.entries(data.user_attrs || {});
    if (attrs.length) parts.push(el("h2", {}, "User attributes"), kv(attrs.map(([k, v]) => [k, JSON.stringify(v)])));
    parts.push(el("h2", {}, "Events"), data.events.length
      ? el("table", {"data-testid": "trial-events"}, el("tbody", {}, data.events.map((e) => el("tr", {},
          el("td", {class: "text"}, e.kind), el("td", {}, e.step === null ? "-" : e.step),
          el("td", {class: "text"}, JSON.stringify(e.payload))))))
      : el("p", {class: "muted"}, "none"));
    clear(this.body).append(...parts);
  }

  renderControls(data) {
    clear(this.controls);
    if (!this.config.control || !this.source.live || data.state !== "RUNNING") return;
    const inputs = new Map();
    const fields = data.params.map((p) => {
      const d = p.distribution;
      let input;
      if (d && d.scale === "categorical") {
        input = el("select", {name: p.name}, d.choices.map((c, i) => el("option", {value: i, selected: c === p.value}, String(c))));
        inputs.set(p.name, () => d.choices[Number(input.value)]);
      } else {
        input = el("input", {name: p.name, value: String(p.value), size: 10});
        inputs.set(p.name, () => (input.value.trim() === "" ? undefined : Number(input.value)));
      }
      return el("label", {}, `${p.name} `, input);
    });
    const token = el("input", {type: "password", placeholder: "token", value: this.source.token, size: 14,
                               "data-testid": "token-input"});
    const act = async (action, body) => {
      this.source.token = token.value;
      try {
        await this.source.control(action, {study: this.name, trial: data.number, ...body});
        this.message.className = "msg good";
        this.message.textContent = action === "stop" ? "stop requested" : "nudge sent: the trial applies it at its next report";
      } catch (error) {
        this.message.className = "msg bad";
        this.message.textContent = String(error.message || error);
      }
    };
    const nudge = el("button", {"data-testid": "nudge-button", onclick: () => {
      const params = {};
      for (const p of data.params) {
        const value = inputs.get(p.name)();
        if (value !== undefined && value !== p.value) params[p.name] = value;
      }
      act("nudge", {params});
    }}, "nudge");
    const stop = el("button", {class: "danger", "data-testid": "stop-button", onclick: () => act("stop", {})}, "stop trial");
    this.controls.append(el("div", {class: "card"}, el("b", {}, "Control this running trial"),
      el("div", {class: "toolbar"}, fields, nudge), el("div", {class: "toolbar"}, token, stop), this.message));
  }
}
