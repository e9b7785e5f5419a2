// DOM helpers: every piece of data reaches the page through textContent or an attribute
// value, never through innerHTML, so names, values, attributes and error messages stay text.

/** Make an element: el("td", {class: "x", dataset: {n: 1}, onclick: f}, "text", childNode, ...). */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Remove every child of a node. */
export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

/** A number in a short readable form; other values as text; null as "-". */
export function fmt(value) {
  if (value === null || value === undefined) return "-";
  if (typeof value === "number") {
    if (Number.isInteger(value)) return String(value);
    const a = Math.abs(value);
    return a !== 0 && (a < 1e-3 || a >= 1e5) ? value.toExponential(3).replace(/\.?0+e/, "e") : String(Number(value.toPrecision(5)));
  }
  return String(value);
}

/** A duration in seconds as "1.2 s" / "3 min" / "2.1 h". */
export function fmtSeconds(s) {
  if (s === null || s === undefined) return "-";
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** A state badge. */
export function stateBadge(state) {
  return el("span", {class: `state state-${state}`}, state);
}

/** Link to a view of this page (hash route). */
export function link(href, text, attrs) {
  return el("a", {href, ...(attrs || {})}, text);
}

/** The study's route fragment, the name encoded. */
export function studyHref(name) {
  return `#/study/${encodeURIComponent(name)}`;
}

/** A trial's route fragment. */
export function trialHref(name, number) {
  return `#/study/${encodeURIComponent(name)}/trial/${number}`;
}
