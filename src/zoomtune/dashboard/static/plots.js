// Draws the figures of a study page. Every figure is built in Python (zoomtune.plot, one source for the
// dashboard, the report and notebooks) and travels in the study payload's `figures`, a plain
// {data, layout} per figure, user text already escaped for Plotly's label markup: the page only
// hands them to Plotly.

export const PLOT_CONFIG = {displaylogo: false, responsive: true};

/** Draw (or update in place) a figure into a div. */
export function draw(div, fig) {
  div.style.height = `${fig.layout.height || 360}px`;
  return Plotly.react(div, fig.data, fig.layout, PLOT_CONFIG);
}
