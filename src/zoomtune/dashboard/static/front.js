// The faces of a multi-objective study, built from the payload's `pareto` part (see
// zoomtune/dashboard/front.py): the front of the objectives (2-D, 3-D, or parallel coordinates
// beyond) and the normalised hypervolume of the feasible front after each trial.
import { fmt, plotText } from "./dom.js";
import { MARGIN, MAX_POINTS, evenSample } from "./plots.js";

const FRONT = "#c23b32", DOMINATED = "#2f6fdb", INFEASIBLE = "#9aa3ad";

/** "acc (maximize)": an objective's axis title. */
export function objectiveTitle(objective) {
  return `${plotText(objective.name)} (${objective.direction})`;
}

/** Indices of COMPLETE trials with every objective's value, split into front, dominated and infeasible. */
export function frontGroups(study) {
  const cols = study.trials, pareto = study.pareto, onFront = new Set(pareto.front);
  const groups = {front: [], dominated: [], infeasible: []};
  for (let i = 0; i < cols.number.length; i++) {
    if (cols.state[i] !== "COMPLETE" || pareto.values.some((column) => column[i] === null)) continue;
    if (pareto.violation[i] > 0) groups.infeasible.push(i);
    else groups[onFront.has(cols.number[i]) ? "front" : "dominated"].push(i);
  }
  return groups;
}

/** The hover text of one trial: every objective, its violation when infeasible, its parameters. */
function hoverText(study, i) {
  const cols = study.trials, pareto = study.pareto;
  const lines = pareto.objectives.map((o, k) => `${plotText(o.name)} = ${fmt(pareto.values[k][i])}`);
  if (pareto.violation[i] > 0) lines.push(`infeasible: violation ${fmt(pareto.violation[i])}`);
  for (const p of study.params) lines.push(`${plotText(p.name)} = ${plotText(fmt(cols.params[p.name][i]))}`);
  return lines.join("<br>");
}

/** One scatter trace of a group of trials over the objectives in `axes` (2 or 3 indices). */
function groupTrace(study, indices, axes, name, marker) {
  const values = study.pareto.values, coords = {};
  ["x", "y", "z"].slice(0, axes.length).forEach((key, k) => { coords[key] = indices.map((i) => values[axes[k]][i]); });
  return {type: axes.length === 3 ? "scatter3d" : indices.length > 1500 ? "scattergl" : "scatter", mode: "markers",
          name, ...coords, customdata: indices.map((i) => study.trials.number[i]),
          text: indices.map((i) => hoverText(study, i)), marker,
          hovertemplate: "trial #%{customdata}<br>%{text}<extra></extra>"};
}

/** The front's corner line in 2-D: the front sorted by the first objective, stepping on the dominated side. */
function stepLine(study, indices) {
  const [vx, vy] = study.pareto.values, sorted = indices.slice().sort((a, b) => vx[a] - vx[b]);
  const shape = study.pareto.objectives[0].direction === "minimize" ? "hv" : "vh";
  return {type: "scatter", mode: "lines", name: "front (step)", showlegend: false, hoverinfo: "skip",
          x: sorted.map((i) => vx[i]), y: sorted.map((i) => vy[i]), line: {shape, color: FRONT, width: 1.5}};
}

/** Parallel coordinates of the objectives (4 or more): front lines red, dominated blue, infeasible grey. */
function frontParcoords(study, groups, title) {
  const use = [...groups.infeasible, ...groups.dominated, ...groups.front];
  const rank = new Map([...groups.infeasible.map((i) => [i, 0]), ...groups.dominated.map((i) => [i, 1]),
                        ...groups.front.map((i) => [i, 2])]);
  const dimensions = study.pareto.objectives.map((o, k) => ({label: objectiveTitle(o),
                                                             values: use.map((i) => study.pareto.values[k][i])}));
  return {data: [{type: "parcoords", dimensions, line: {color: use.map((i) => rank.get(i)), cmin: 0, cmax: 2,
                                                        colorscale: [[0, INFEASIBLE], [0.5, DOMINATED], [1, FRONT]]}}],
          layout: {title: {text: `${title}: red the front, blue dominated, grey infeasible`, font: {size: 13}},
                   margin: {l: 70, r: 60, t: 80, b: 30}}};
}

/** The study's front: every COMPLETE trial over its objectives, the non-dominated feasible ones highlighted. */
export function frontFigure(study) {
  const groups = frontGroups(study), objectives = study.pareto.objectives, m = objectives.length;
  const total = groups.front.length + groups.dominated.length + groups.infeasible.length;
  const title = `Pareto front: ${groups.front.length} of ${total} complete trials`;
  if (m > 3) return frontParcoords(study, groups, title);
  const room = Math.max(0, MAX_POINTS - groups.front.length);
  const rest = evenSample([...groups.dominated, ...groups.infeasible].sort((a, b) => a - b), room);
  const kept = new Set(rest), thinned = rest.length < groups.dominated.length + groups.infeasible.length;
  const dominated = groups.dominated.filter((i) => kept.has(i)), infeasible = groups.infeasible.filter((i) => kept.has(i));
  const axes = m === 3 ? [0, 1, 2] : [0, 1], size = m === 3 ? 3 : 6;
  const data = [
    groupTrace(study, dominated, axes, "dominated", {size, color: DOMINATED, opacity: 0.55}),
    groupTrace(study, infeasible, axes, "infeasible", {size, color: INFEASIBLE, symbol: "circle-open",
                                                        line: {width: 1, color: INFEASIBLE}}),
    groupTrace(study, groups.front, axes, "Pareto front", {size: size + 3, color: FRONT}),
  ];
  if (m === 2) data.push(stepLine(study, groups.front));
  const note = thinned ? ` (all of the front, ${rest.length.toLocaleString("en")} of the others)` : "";
  const layout = {title: {text: title + note, font: {size: 13}}, margin: MARGIN, legend: {orientation: "h", y: -0.2},
                  height: m === 3 ? 480 : 380};
  if (m === 3) {
    layout.scene = {xaxis: {title: {text: objectiveTitle(objectives[0])}}, yaxis: {title: {text: objectiveTitle(objectives[1])}},
                    zaxis: {title: {text: objectiveTitle(objectives[2])}}};
  } else {
    layout.xaxis = {title: {text: objectiveTitle(objectives[0])}};
    layout.yaxis = {title: {text: objectiveTitle(objectives[1])}};
  }
  return {data, layout};
}

/** The reference box of the normalised hypervolume, in words. */
export function referenceNote(study) {
  const hv = study.pareto.hypervolume, objectives = study.pareto.objectives;
  const part = (k) => `${plotText(objectives[k].name)} ${fmt(hv.ideal[k])}…${fmt(hv.reference[k])}`;
  return `from the best feasible value to the worst + ${Math.round(hv.margin * 100)}% of the range: ` +
    objectives.map((_, k) => part(k)).join(", ");
}

/** Normalised hypervolume of the feasible front after each trial (a step line; null without one). */
export function hypervolumeFigure(study) {
  const hv = study.pareto.hypervolume;
  if (!hv) return null;
  return {
    data: [{type: "scatter", mode: "lines+markers", name: "hypervolume", x: hv.number, y: hv.value,
            customdata: hv.number, line: {shape: "hv", color: FRONT}, marker: {size: 4},
            hovertemplate: "after trial #%{customdata}<br>normalised hypervolume %{y:.4f}<extra></extra>"}],
    layout: {title: {text: "Normalised hypervolume of the feasible front", font: {size: 13}}, margin: {...MARGIN, b: 70},
             xaxis: {title: {text: "trial"}}, yaxis: {title: {text: "hypervolume (0..1)"}, rangemode: "tozero"},
             annotations: [{text: `box ${referenceNote(study)}`, showarrow: false, xref: "paper", yref: "paper",
                            x: 0, y: -0.28, xanchor: "left", font: {size: 10, color: "#6b7480"}}]},
  };
}
