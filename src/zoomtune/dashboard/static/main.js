// Entry point: picks the data source (the server's API, or a report's embedded JSON), routes
// #/, #/study/NAME and #/study/NAME/trial/N, and polls the current view while the page is live.
import { el, clear, link } from "./dom.js";
import { ServerSource, EmbeddedSource } from "./source.js";
import { StudiesView, StudyView } from "./views.js";
import { TrialView } from "./trial.js";

const POLL_MS = Number(new URLSearchParams(location.search).get("poll")) || 2000;

function parseRoute(hash, fallbackStudy) {
  const parts = hash.replace(/^#\/?/, "").split("/").filter((p) => p !== "");
  if (parts[0] === "study" && parts[1] !== undefined) {
    const name = decodeURIComponent(parts[1]);
    if (parts[2] === "trial" && parts[3] !== undefined) return {view: "trial", name, number: Number(parts[3])};
    return {view: "study", name};
  }
  return fallbackStudy === undefined ? {view: "studies"} : {view: "study", name: fallbackStudy};
}

class App {
  constructor(source, fixedStudy) {
    this.source = source;
    this.fixedStudy = fixedStudy;
    this.root = document.getElementById("view");
    this.view = null;
    this.busy = false;
    this.config = {};
  }

  async start() {
    this.config = await this.source.config();
    window.addEventListener("hashchange", () => this.route());
    await this.route();
    if (this.source.live) setInterval(() => this.tick(), POLL_MS);
  }

  crumbs(route) {
    const nav = clear(document.getElementById("crumbs"));
    if (route.view !== "studies") nav.append(link(`#/study/${encodeURIComponent(route.name)}`, route.name));
    if (route.view === "trial") nav.append(" / ", `trial #${route.number}`);
  }

  async route() {
    const route = parseRoute(location.hash, this.fixedStudy);
    document.body.dataset.ready = "";
    this.crumbs(route);
    if (route.view === "studies") this.view = new StudiesView(this.root, this.source);
    else if (route.view === "study") this.view = new StudyView(this.root, this.source, route.name);
    else this.view = new TrialView(this.root, this.source, route.name, route.number, this.config);
    try {
      await this.view.show();
    } catch (error) {
      clear(this.root).append(el("p", {class: "msg bad", "data-testid": "error"}, String(error.message || error)),
                              link("#/", "back to the studies"));
      document.body.dataset.ready = "error";
    }
  }

  async tick() {
    if (this.busy || document.hidden || !this.view) return;
    this.busy = true;
    const live = document.getElementById("live");
    try {
      await this.view.poll();
      live.textContent = `live · updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      live.textContent = `offline? ${error.message || error}`;
    } finally {
      this.busy = false;
    }
  }
}

const embedded = document.getElementById("zt-data");
if (embedded) {
  const data = JSON.parse(embedded.textContent);
  new App(new EmbeddedSource(data), data.study.name).start();
} else {
  new App(new ServerSource()).start();
}
