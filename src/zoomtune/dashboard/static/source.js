// Where the page's data comes from: the dashboard's JSON API (live), or the JSON embedded in a
// self-contained report (static). Both answer the same questions with the same shapes.

const TOKEN_KEY = "zoomtune-token";

/** Reads the JSON API of the server that served this page. */
export class ServerSource {
  constructor() {
    this.live = true;
    const hash = location.hash;
    if (hash.startsWith("#token=")) {  // the CLI prints http://host:port/#token=T
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(hash.slice(7)));
      history.replaceState(null, "", location.pathname + "#/");
    }
  }

  get token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
  set token(value) { sessionStorage.setItem(TOKEN_KEY, value); }

  async get(path, params) {
    const query = new URLSearchParams(params || {}).toString();
    const response = await fetch(`api/${path}${query ? "?" + query : ""}`, {cache: "no-store"});
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    return body;
  }

  async config() { return this.get("config"); }
  async studies() { return this.get("studies"); }
  /** The study's page data, or {unchanged: true} when `rev` is still current. */
  async study(name, rev) { return this.get("study", rev ? {name, rev} : {name}); }
  async trial(name, number) { return this.get("trial", {study: name, number}); }

  /** POST a control action (nudge, stop) with the bearer token; resolves to the answer body. */
  async control(action, body) {
    const response = await fetch(`api/${action}`, {
      method: "POST", cache: "no-store",
      headers: {"Content-Type": "application/json", "Authorization": `Bearer ${this.token}`},
      body: JSON.stringify(body),
    });
    let answer = {};
    try { answer = await response.json(); } catch (e) { answer = {}; }
    if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
    return answer;
  }
}

/** Reads the data a report embedded in a <script type="application/json"> element. */
export class EmbeddedSource {
  constructor(data) {
    this.live = false;
    this.data = data;
  }
  async config() { return {control: false, version: this.data.version}; }
  async studies() { return [this.data.summary]; }
  async study(name, rev) { return rev ? {rev, unchanged: true} : this.data.study; }
  async trial(name, number) {
    const detail = this.data.details[String(number)];
    if (detail) return detail;
    return trialFromColumns(this.data.study, number);
  }
  async control() { throw new Error("a report is read-only"); }
}

/** A trial's detail rebuilt from the study's columns (for trials a report holds no detail of: their curves
 *  did not travel, since the report details every trial whose curve did). */
export function trialFromColumns(study, number) {
  const cols = study.trials;
  const i = cols.number.indexOf(Number(number));
  if (i < 0) throw new Error(`no trial ${number}`);
  return {
    number: cols.number[i], state: cols.state[i], value: cols.value[i], parent: cols.parent[i],
    params: study.params.map((p) => ({name: p.name, value: cols.params[p.name][i], distribution: p})),
    curve: [[], []], figure: null, user_attrs: {}, error: cols.error[i], events: [],
    start: cols.start[i], duration: cols.duration[i], control: false,
  };
}
