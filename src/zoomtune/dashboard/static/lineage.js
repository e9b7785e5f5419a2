// The lineage tree: trials linked by branches (PBT exploits, manual branches) and nudges, drawn
// like a git graph: one lane per trial along the steps it ran, a connector where a child
// branched from its parent's checkpoint, a diamond where a hyperparameter was nudged.
import { fmt, plotText } from "./dom.js";

/** Lanes in depth-first order, so children sit right below their parent. */
function laneOrder(nodes) {
  const byNumber = new Map(nodes.map((n) => [n.number, n]));
  const children = new Map();
  const roots = [];
  for (const node of nodes) {
    if (node.parent !== null && byNumber.has(node.parent)) {
      if (!children.has(node.parent)) children.set(node.parent, []);
      children.get(node.parent).push(node.number);
    } else roots.push(node.number);
  }
  const order = [], stack = roots.slice().reverse();
  while (stack.length) {
    const number = stack.pop();
    order.push(number);
    for (const child of (children.get(number) || []).slice().reverse()) stack.push(child);
  }
  return order;
}

/** The lineage figure, or null when no trial was branched or nudged. */
export function lineageFigure(study) {
  const {nodes, nudges} = study.lineage;
  if (!nodes.length) return null;
  const byNumber = new Map(nodes.map((n) => [n.number, n]));
  const order = laneOrder(nodes);
  const lane = new Map(order.map((number, i) => [number, i]));
  const start = (n) => (n.branch_step ?? n.first ?? 0);
  const end = (n) => Math.max(start(n), n.last ?? start(n));
  const seg = {x: [], y: []}, link = {x: [], y: []}, dots = {x: [], y: [], text: [], custom: []};
  for (const number of order) {
    const n = byNumber.get(number), y = lane.get(number);
    seg.x.push(start(n), end(n), null); seg.y.push(y, y, null);
    dots.x.push(end(n)); dots.y.push(y); dots.custom.push(number);
    dots.text.push(plotText(`#${number} ${n.state} value ${fmt(n.value)}` + (n.reason ? ` (${n.reason})` : "")));
    if (n.parent !== null && lane.has(n.parent)) {
      link.x.push(start(n), start(n), null); link.y.push(lane.get(n.parent), y, null);
    }
  }
  const nudgeX = [], nudgeY = [], nudgeText = [];
  for (const nudge of nudges) {
    if (!lane.has(nudge.trial)) continue;
    nudgeX.push(nudge.step ?? start(byNumber.get(nudge.trial)));
    nudgeY.push(lane.get(nudge.trial));
    const changes = Object.keys(nudge.new).map((k) => `${k}: ${fmt(nudge.old[k])} → ${fmt(nudge.new[k])}`);
    nudgeText.push(plotText(`nudge of #${nudge.trial} at step ${fmt(nudge.step)}: ${changes.join(", ")}`));
  }
  return {
    data: [
      {type: "scatter", mode: "lines", x: seg.x, y: seg.y, name: "trial", line: {color: "#2f6fdb", width: 3},
       hoverinfo: "skip"},
      {type: "scatter", mode: "lines", x: link.x, y: link.y, name: "branch", line: {color: "#9aa3ad", dash: "dot"},
       hoverinfo: "skip"},
      {type: "scatter", mode: "markers", x: dots.x, y: dots.y, name: "last report", customdata: dots.custom,
       text: dots.text, hovertemplate: "%{text}<extra></extra>", marker: {size: 8, color: "#2f6fdb"}},
      {type: "scatter", mode: "markers", x: nudgeX, y: nudgeY, name: "nudge", text: nudgeText,
       hovertemplate: "%{text}<extra></extra>", marker: {symbol: "diamond", size: 11, color: "#e4572e"}},
    ],
    layout: {title: {text: "Lineage: branches and nudges"}, margin: {l: 70, r: 20, t: 40, b: 50},
             height: Math.max(260, 60 + 22 * order.length), xaxis: {title: {text: "step"}},
             yaxis: {autorange: "reversed", tickvals: order.map((_, i) => i), ticktext: order.map((n) => `#${n}`),
                     zeroline: false},
             legend: {orientation: "h", y: -0.2}},
  };
}
