// Plotly figures of a study page, built from the study payload (see zoomtune/dashboard/payload.py).
// Every user string (parameter names, categorical choices) goes through plotText, because
// Plotly interprets a small markup language in labels.
import { fmt, plotText } from "./dom.js";

export const PLOT_CONFIG = {displaylogo: false, responsive: true};
const GL_ABOVE = 1500;  // WebGL markers above this many points, SVG below
const ROUND_COLOURS = ["#e4572e", "#2e86ab", "#f3a712", "#7b2d8b", "#29bf12", "#a23b72", "#3f88c5", "#6b4226"];
export const MARGIN = {l: 60, r: 20, t: 40, b: 50};

/** Draw (or update in place) a figure into a div. */
export function draw(div, fig) {
  div.style.height = `${fig.layout.height || 360}px`;
  return Plotly.react(div, fig.data, fig.layout, PLOT_CONFIG);
}

/** Indices of trials that have an objective value to plot (COMPLETE or STOPPED). */
export function scoredIndices(study) {
  const cols = study.trials, out = [];
  for (let i = 0; i < cols.number.length; i++) {
    if (cols.value[i] !== null && (cols.state[i] === "COMPLETE" || cols.state[i] === "STOPPED")) out.push(i);
  }
  return out;
}

export const MAX_POINTS = 3000;  // markers per plot; beyond this, the best and an even sample of the rest
export const MAX_LINES = 500;   // lines in the parallel coordinates

/** At most `limit` of `indices`, evenly spread over them (every k-th), in order. */
export function evenSample(indices, limit) {
  if (indices.length <= limit) return indices;
  const step = indices.length / limit, out = [];
  for (let k = 0; k < limit; k++) out.push(indices[Math.floor(k * step)]);
  return out;
}

/** At most `limit` of `indices`: the best quarter of the limit, then an even sample of the others, in order. */
export function thin(study, indices, limit) {
  if (indices.length <= limit) return indices;
  const values = study.trials.value, sign = study.direction === "minimize" ? 1 : -1;
  const ranked = indices.slice().sort((a, b) => sign * (values[a] - values[b]));
  const keep = new Set(ranked.slice(0, Math.floor(limit / 4)));
  for (const i of evenSample(indices.filter((j) => !keep.has(j)), limit - keep.size)) keep.add(i);
  return indices.filter((i) => keep.has(i));
}

/** "(showing 3,000 of 10,000 trials: the best 750 and an even sample)" when thinned, else "". */
export function thinNote(shown, total) {
  return shown < total ? ` (${shown.toLocaleString("en")} of ${total.toLocaleString("en")} trials: the best and an even sample)` : "";
}

/** What the plots of one objective call it: "objective", or in a multi-objective study the first one's name
 *  (the history, importance, pair and parallel coordinates use the first objective). */
export function objectiveLabel(study) {
  return study.pareto ? `${plotText(study.pareto.objectives[0].name)} (first objective)` : "objective";
}

function markerType(n) { return n > GL_ABOVE ? "scattergl" : "scatter"; }

/** Optimisation history: every scored trial and the best-so-far line. */
export function historyFigure(study) {
  const cols = study.trials, all = scoredIndices(study), minimise = study.direction === "minimize";
  const idx = thin(study, all, MAX_POINTS);
  const bestX = [], bestY = [];
  let best = null;
  for (const i of all) {
    if (cols.state[i] !== "COMPLETE") continue;
    const v = cols.value[i];
    if (best === null || (minimise ? v < best : v > best)) best = v;
    bestX.push(cols.number[i]); bestY.push(best);
  }
  return {
    data: [
      {type: markerType(idx.length), mode: "markers", name: "trial", x: idx.map((i) => cols.number[i]),
       y: idx.map((i) => cols.value[i]), customdata: idx.map((i) => cols.number[i]),
       marker: {size: 5, color: idx.map((i) => (cols.state[i] === "STOPPED" ? "#b7791f" : "#2f6fdb")), opacity: 0.7},
       hovertemplate: "trial #%{customdata}<br>value %{y}<extra></extra>"},
      {type: "scatter", mode: "lines", name: "best so far", x: bestX, y: bestY, line: {shape: "hv", color: "#c23b32"}},
    ],
    layout: {title: {text: "Optimisation history" + thinNote(idx.length, all.length), font: {size: 13}}, margin: MARGIN, xaxis: {title: {text: "trial"}},
             yaxis: {title: {text: `${objectiveLabel(study)} (${study.direction})`}}, legend: {orientation: "h", y: -0.2}},
  };
}

/** Log-axis ticks at 1·10^k (and 3·10^k when the range spans few decades), within [lo, hi]. */
function decadeTicks(lo, hi) {
  const a = Math.floor(Math.log10(lo)), b = Math.ceil(Math.log10(hi)), ticks = [];
  for (let k = a; k <= b; k++) {
    for (const m of b - a <= 3 ? [1, 3] : [1]) {
      const t = m * Math.pow(10, k);
      if (t >= lo * 0.999 && t <= hi * 1.001) ticks.push(Number(t.toPrecision(6)));
    }
  }
  return ticks;
}

/** A parameter's axis on its own scale. log1m plots 1-x on a reversed log axis labelled in x. */
export function paramAxis(param) {
  const title = {text: plotText(param.name)};
  if (param.scale === "log") return {type: "log", dtick: param.kind === "int" ? "D2" : undefined,
                                     title: {text: `${title.text} (log)`}};
  if (param.scale === "log1m") {
    const ticks = decadeTicks(1 - param.high, 1 - param.low);
    return {type: "log", autorange: "reversed", tickvals: ticks,
            ticktext: ticks.map((t) => String(Number((1 - t).toPrecision(10)))),
            title: {text: `${title.text} (log of 1−${title.text})`}};
  }
  if (param.scale === "categorical") {
    return {type: "category", categoryorder: "array", categoryarray: param.choices.map((c) => plotText(c)), title};
  }
  return {type: "linear", title};
}

/** Where a value sits on its parameter's axis. */
export function axisValue(param, value) {
  if (value === null || value === undefined) return null;
  if (param.scale === "log1m") return 1 - value;
  if (param.scale === "categorical") return plotText(value);
  return value;
}

/** A shape coordinate on an axis (shapes take data values, log axes included). */
function shapeCoord(param, value) {
  return axisValue(param, value);
}

/** [x0, x1] of a zoom box on a parameter's axis, or null when the box does not bound it. */
function boxSpan(param, box) {
  if (param.scale === "categorical") {
    const chosen = box.choices[param.name];
    if (!chosen || !chosen.length) return null;
    const positions = chosen.map((c) => param.choices.indexOf(c)).filter((i) => i >= 0);
    return [Math.min(...positions) - 0.45, Math.max(...positions) + 0.45];
  }
  const range = box.ranges[param.name];
  return range ? [shapeCoord(param, range[0]), shapeCoord(param, range[1])] : null;
}

function roundColour(r) { return ROUND_COLOURS[(r - 1 + ROUND_COLOURS.length) % ROUND_COLOURS.length]; }

/** What a subplot's "importance" is (PED-ANOVA, computed by zoomtune.importance), shown on hover. */
const IMPORTANCE_HELP = "PED-ANOVA importance: how much the best 10% of trials bunch up in this parameter<br>" +
  "compared with all complete trials (all parameters sum to 1). Unlike a correlation,<br>" +
  "it sees a parameter whose best value lies inside its range.";

/** Each parameter against the objective on its own scale, one subplot each, zoom boxes as bands. */
export function paramsFigure(study) {
  const cols = study.trials, all = scoredIndices(study), idx = thin(study, all, MAX_POINTS), params = study.params;
  const n = params.length, ncol = Math.min(3, Math.max(1, n)), nrow = Math.ceil(n / ncol);
  const height = Math.max(340, 300 * nrow) + 40;
  const data = [], shapes = [], annotations = [], layout = {margin: {l: 60, r: 20, t: 30, b: 90}, height,
    showlegend: true, legend: {orientation: "h", x: 0, y: -70 / (height - 120), yanchor: "top"}};
  const gx = 0.06, gy = nrow > 1 ? 0.36 / nrow : 0;
  const legendRounds = new Set();
  params.forEach((param, k) => {
    const row = Math.floor(k / ncol), col = k % ncol, ax = k === 0 ? "" : String(k + 1);
    const x0 = col / ncol + (col ? gx / 2 : 0), x1 = (col + 1) / ncol - (col < ncol - 1 ? gx / 2 : 0);
    const y1 = 1 - row / nrow - (row ? gy / 2 : 0), y0 = 1 - (row + 1) / nrow + (row < nrow - 1 ? gy / 2 : 0);
    layout[`xaxis${ax}`] = {...paramAxis(param), domain: [x0, x1], anchor: `y${ax}`};
    layout[`yaxis${ax}`] = {domain: [y0, y1], anchor: `x${ax}`, title: {text: col === 0 ? objectiveLabel(study) : ""}};
    const importance = study.importance[param.name];
    annotations.push({text: `<b>${plotText(param.name)}</b>  importance ${fmt(importance)}`, showarrow: false,
                      hovertext: IMPORTANCE_HELP,
                      xref: "paper", yref: "paper", x: (x0 + x1) / 2, y: y1, yanchor: "bottom", xanchor: "center"});
    const values = cols.params[param.name];
    const use = idx.filter((i) => values[i] !== null && values[i] !== undefined);
    data.push({type: markerType(use.length), mode: "markers", xaxis: `x${ax}`, yaxis: `y${ax}`, showlegend: false,
               name: plotText(param.name), x: use.map((i) => axisValue(param, values[i])),
               y: use.map((i) => cols.value[i]), customdata: use.map((i) => cols.number[i]),
               text: use.map((i) => plotText(fmt(values[i]))),
               marker: {size: 5, color: use.map((i) => cols.number[i]), colorscale: "Viridis", opacity: 0.75,
                        showscale: k === 0, colorbar: {title: {text: "trial"}, thickness: 10, len: 0.5}},
               hovertemplate: `trial #%{customdata}<br>${plotText(param.name)} = %{text}<br>value %{y}<extra></extra>`});
    for (const zoom of study.zooms) {
      for (const box of zoom.boxes) {
        const span = boxSpan(param, box);
        if (!span) continue;
        const colour = roundColour(zoom.round), first = !legendRounds.has(zoom.round);
        legendRounds.add(zoom.round);
        shapes.push({type: "rect", xref: `x${ax}`, yref: `y${ax} domain`, x0: span[0], x1: span[1], y0: 0, y1: 1,
                     fillcolor: colour, opacity: 0.12, line: {color: colour, width: 1}, layer: "below",
                     name: `round ${zoom.round}`, legendgroup: `round ${zoom.round}`, showlegend: first});
      }
    }
  });
  layout.shapes = shapes;
  layout.annotations = annotations;
  if (idx.length < all.length) layout.title = {text: thinNote(idx.length, all.length).trim(), font: {size: 12}};
  return {data, layout};
}

/** The two numeric parameters that move the objective most (by importance), or null. */
export function topPair(study) {
  const numeric = study.params.filter((p) => p.scale !== "categorical");
  if (numeric.length < 2) return null;
  numeric.sort((a, b) => (study.importance[b.name] || 0) - (study.importance[a.name] || 0));
  return [numeric[0], numeric[1]];
}

/** The two most important parameters against each other, coloured by objective, zoom boxes drawn. */
export function pairFigure(study) {
  const pair = topPair(study);
  if (!pair) return null;
  const [px, py] = pair, cols = study.trials, minimise = study.direction === "minimize";
  const all = scoredIndices(study).filter((i) => cols.params[px.name][i] !== null && cols.params[py.name][i] !== null);
  const idx = thin(study, all, MAX_POINTS);
  const shapes = [];
  const seen = new Set();
  for (const zoom of study.zooms) {
    for (const box of zoom.boxes) {
      const sx = boxSpan(px, box), sy = boxSpan(py, box);
      if (!sx || !sy) continue;
      const colour = roundColour(zoom.round);
      shapes.push({type: "rect", xref: "x", yref: "y", x0: sx[0], x1: sx[1], y0: sy[0], y1: sy[1],
                   line: {color: colour, width: 2}, fillcolor: colour, opacity: 0.15, name: `round ${zoom.round}`,
                   legendgroup: `round ${zoom.round}`, showlegend: !seen.has(zoom.round)});
      seen.add(zoom.round);
    }
  }
  return {
    data: [{type: markerType(idx.length), mode: "markers", x: idx.map((i) => axisValue(px, cols.params[px.name][i])),
            y: idx.map((i) => axisValue(py, cols.params[py.name][i])), customdata: idx.map((i) => cols.number[i]),
            text: idx.map((i) => fmt(cols.value[i])), showlegend: false,
            marker: {size: 6, color: idx.map((i) => cols.value[i]), colorscale: "Viridis", reversescale: minimise,
                     showscale: true, colorbar: {title: {text: objectiveLabel(study)}, thickness: 10}},
            hovertemplate: "trial #%{customdata}<br>value %{text}<extra></extra>"}],
    layout: {title: {text: "Coarse-to-fine boxes over the two most important parameters" + thinNote(idx.length, all.length),
                     font: {size: 13}}, margin: MARGIN,
             xaxis: paramAxis(px), yaxis: paramAxis(py), shapes, legend: {orientation: "h", y: -0.2}},
  };
}

/** A parcoords dimension for a parameter, on its own scale. */
function parcoordsDimension(param, values) {
  const label = plotText(param.name);
  if (param.scale === "categorical") {
    const index = new Map(param.choices.map((c, i) => [JSON.stringify(c), i]));
    return {label, values: values.map((v) => index.get(JSON.stringify(v)) ?? 0),
            tickvals: param.choices.map((_, i) => i), ticktext: param.choices.map((c) => plotText(c)),
            range: [-0.5, param.choices.length - 0.5]};
  }
  if (param.scale === "log" || param.scale === "log1m") {
    const f = param.scale === "log" ? (v) => Math.log10(v) : (v) => -Math.log10(1 - v);
    const lo = f(param.low), hi = f(param.high), ticks = [];
    for (let k = Math.ceil(lo); k <= Math.floor(hi); k++) ticks.push(k);
    const text = ticks.map((k) => (param.scale === "log" ? `1e${k}` : String(Number((1 - Math.pow(10, -k)).toPrecision(10)))));
    return {label: `${label} (${param.scale})`, values: values.map(f), range: [lo, hi], tickvals: ticks, ticktext: text};
  }
  return {label, values, range: [param.low, param.high]};
}

/** Parallel coordinates: every parameter on its own scale, and the objective. */
export function parcoordsFigure(study) {
  const cols = study.trials;
  const all = scoredIndices(study).filter((i) => study.params.every((p) => cols.params[p.name][i] !== null));
  const use = thin(study, all, MAX_LINES);
  const dims = study.params.map((p) => parcoordsDimension(p, use.map((i) => cols.params[p.name][i])));
  const values = use.map((i) => cols.value[i]);
  dims.push({label: objectiveLabel(study), values});
  return {
    data: [{type: "parcoords", dimensions: dims,
            line: {color: values, colorscale: "Viridis", reversescale: study.direction === "minimize", showscale: true}}],
    layout: {title: {text: "Parallel coordinates" + thinNote(use.length, all.length), font: {size: 13}},
             margin: {l: 70, r: 60, t: 80, b: 30}},
  };
}

/** Learning curves of the trials whose curves were sent: running ones stand out. */
export function curvesFigure(study, selected) {
  const cols = study.trials, byNumber = new Map(cols.number.map((n, i) => [n, i]));
  const data = [];
  for (const [key, curve] of Object.entries(study.curves)) {
    const number = Number(key), i = byNumber.get(number), state = i === undefined ? "?" : cols.state[i];
    const running = state === "RUNNING", chosen = selected && selected.has(number);
    data.push({type: "scatter", mode: "lines", x: curve[0], y: curve[1], name: `#${number} ${state}`,
               line: {width: running || chosen ? 2.5 : 1, color: running ? undefined : chosen ? "#c23b32" : "#9aa3ad"},
               opacity: running || chosen ? 1 : 0.6, customdata: curve[0].map(() => number),
               hovertemplate: `trial #${number} (${state})<br>step %{x}<br>value %{y}<extra></extra>`});
  }
  data.sort((a, b) => (a.line.width - b.line.width));
  return {data, layout: {title: {text: "Learning curves (running, best and latest trials)"}, margin: MARGIN,
                         xaxis: {title: {text: "step"}}, yaxis: {title: {text: "reported value"}},
                         showlegend: data.length <= 12}};
}
