// The strato console: hash routes over the controller's own API, no framework, no build.
// Every value from the API reaches the page through textContent (never innerHTML).
"use strict";

const $ = (sel) => document.querySelector(sel);
const REFRESH_MS = 3000;

/** An element: h("td", {class: "x"}, "text", child, ...). */
function h(tag, attrs, ...children) {
  const svg = ["svg", "polyline", "line", "text"].includes(tag);
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function cookie(name) {
  const m = document.cookie.split(";").map((s) => s.trim().split("=")).find(([k]) => k === name);
  return m ? m[1] : "";
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || "HTTP " + status);
    this.status = status;
    this.body = body || {};
  }
}

async function api(method, path, body) {
  const headers = { "x-csrf-token": cookie("strato_csrf") };
  if (body !== undefined) headers["content-type"] = "application/json";
  const r = await fetch("/api/v1" + path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  const json = text ? (() => { try { return JSON.parse(text); } catch { return null; } })() : null;
  if (r.status === 401) { showLogin(); throw new ApiError(401, json); }
  if (!r.ok) throw new ApiError(r.status, json);
  return json;
}

// ----- login -----

function showLogin() {
  $("#login").hidden = false;
  $("#nav").hidden = true;
  $("#view").replaceChildren();
  stopRefresh();
}

async function login(ev) {
  ev.preventDefault();
  const err = $('[data-error-for="token"]');
  err.textContent = "";
  const r = await fetch("/console/login", {
    method: "POST", headers: { "content-type": "application/json" }, credentials: "same-origin",
    body: JSON.stringify({ token: $("#token").value }),
  });
  if (!r.ok) {
    const b = await r.json().catch(() => ({}));
    err.textContent = b.message || "login refused";
    return;
  }
  $("#token").value = "";
  $("#login").hidden = true;
  $("#nav").hidden = false;
  route();
}

async function logout() {
  await fetch("/console/logout", { method: "POST", headers: { "x-csrf-token": cookie("strato_csrf") }, credentials: "same-origin" });
  showLogin();
}

// ----- live updates -----

let timer = null;
function stopRefresh() { if (timer) clearInterval(timer); timer = null; }
function startRefresh(render) {
  stopRefresh();
  timer = setInterval(() => render().catch(() => {}), REFRESH_MS);
}
function stamp() { $("#live").textContent = "live · " + new Date().toLocaleTimeString(); }

// ----- pieces -----

const badge = (s) => h("span", { class: "badge " + String(s || "").toLowerCase() }, s || "-");
const num = (v, d = 1) => (v === null || v === undefined ? "-" : Number(v).toFixed(d).replace(/\.0+$/, ""));
const time = (t) => new Date(t * 1000).toLocaleString();
const link = (href, text) => h("a", { href }, text);
const table = (head, rows, cls) =>
  h("div", { class: "scroll" }, h("table", { class: cls },
    h("thead", {}, h("tr", {}, head.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: head.length, class: "muted" }, "none")))));

function eventsTable(events) {
  return table(["time", "kind", "object", "reason"], events.map((e) =>
    h("tr", {}, h("td", {}, time(e.time)), h("td", {}, badge(e.kind)), h("td", {}, e.object), h("td", {}, e.reason))));
}

/** A line chart of `series` ([{field, cls, label}]) over the answer `s` of an analytics path. */
function chart(s, series) {
  const W = 800, H = 220, L = 48, B = 22;
  const pts = s.points || [];
  const svg = h("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img" });
  if (!pts.length) { svg.append(h("text", { x: 20, y: 40 }, "no history yet")); return svg; }
  const t0 = pts[0].t, t1 = Math.max(pts[pts.length - 1].t, t0 + 1);
  let max = 0;
  for (const p of pts) for (const se of series) if (p[se.field] != null) max = Math.max(max, p[se.field]);
  max = max > 0 ? max * 1.1 : 1;
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - 8);
  const y = (v) => H - B - (v / max) * (H - B - 10);
  svg.append(h("line", { class: "axis", x1: L, y1: H - B, x2: W, y2: H - B }), h("line", { class: "axis", x1: L, y1: 0, x2: L, y2: H - B }),
    h("text", { x: 2, y: 14 }, num(max / 1.1, 0)), h("text", { x: 2, y: H - B }, "0"),
    h("text", { x: L, y: H - 4 }, new Date(t0 * 1000).toLocaleTimeString()),
    h("text", { x: W - 70, y: H - 4 }, new Date(t1 * 1000).toLocaleTimeString()));
  for (const se of series) {
    const coords = pts.filter((p) => p[se.field] != null).map((p) => `${x(p.t).toFixed(1)},${y(p[se.field]).toFixed(1)}`);
    if (coords.length) svg.append(h("polyline", { class: se.cls, points: coords.join(" ") }));
  }
  return h("div", {}, svg, h("div", { class: "legend" }, series.map((se) => h("span", { class: "l-" + se.cls }, "— " + se.label))));
}

// The charts' window, counted back from the controller's own clock (a demo's replayed day).
const RANGES = [["1 hour", 3600], ["1 day", 86400], ["7 days", 7 * 86400]];
let range = 3600;

async function history(path) {
  try { return await api("GET", `${path}?from=-${range}&step=${Math.max(10, Math.round(range / 240))}`); }
  catch (e) { if (e.status === 404) return { points: [] }; throw e; }
}

function rangePicker() {
  return h("div", { class: "actions" }, RANGES.map(([label, secs]) =>
    h("button", { type: "button", class: secs === range ? "range on" : "range", onclick: () => { range = secs; route(); } }, label)));
}

// ----- pages -----

async function overview() {
  const [st, clouds, ev] = await Promise.all([api("GET", "/status"), api("GET", "/clouds"), api("GET", "/events?limit=15")]);
  const ses = st.groups.flatMap((g) => g.ses);
  const healthy = ses.filter((s) => s.health === "healthy").length;
  return [
    h("h1", {}, "Overview"),
    h("div", { class: "grid" },
      h("div", { class: "card" }, h("div", { class: "muted" }, "Clouds"), h("div", { class: "stat" }, clouds.length)),
      h("div", { class: "card" }, h("div", { class: "muted" }, "SE groups"), h("div", { class: "stat" }, st.groups.length)),
      h("div", { class: "card" }, h("div", { class: "muted" }, "SEs healthy"), h("div", { class: "stat", id: "ses-healthy" }, `${healthy} / ${ses.length}`)),
      h("div", { class: "card" }, h("div", { class: "muted" }, "Virtual services"), h("div", { class: "stat" }, st.virtual_services.length))),
    h("h2", {}, "SE groups"),
    table(["group", "SEs healthy / current / desired", "autoscaler", "error"], st.groups.map((g) =>
      h("tr", {}, h("td", {}, link("#/group/" + encodeURIComponent(g.name), g.name)),
        h("td", {}, `${g.healthy} / ${g.current} / ${g.desired ?? "-"}`),
        h("td", {}, g.held || (g.recommendation && g.recommendation.reason) || "-"),
        h("td", {}, g.last_error || "")))),
    h("h2", {}, "Virtual services"),
    table(["service", "FQDN", "VIP", "SEs", "rps", "error"], st.virtual_services.map((v) =>
      h("tr", {}, h("td", {}, link("#/vs/" + encodeURIComponent(v.name), v.name)), h("td", {}, v.fqdn),
        h("td", {}, v.address || "-"), h("td", {}, `${v.placement.length} / ${v.desired_ses ?? "-"}`),
        h("td", {}, v.load ? num(v.load.rps) : "-"), h("td", {}, v.vip_error || v.last_error || "")))),
    h("h2", {}, "Recent events"), eventsTable(ev.events),
  ];
}

async function vsPage(name) {
  const n = encodeURIComponent(name);
  const [st, s, ev] = await Promise.all([api("GET", "/status"), history(`/analytics/virtual-services/${n}`), api("GET", `/events?object=virtual_service/${n}&limit=30`)]);
  const v = st.virtual_services.find((x) => x.name === name);
  if (!v) return [h("h1", {}, name), h("p", {}, "No such virtual service.")];
  const g = st.groups.find((x) => x.name === v.se_group);
  const seOf = (se) => (g ? g.ses.find((x) => x.name === se) : null);
  return [
    h("h1", {}, "Virtual service ", name),
    h("div", { class: "card" }, h("dl", { class: "kv" },
      h("dt", {}, "VIP"), h("dd", { id: "vs-vip" }, v.address || "not yet"),
      h("dt", {}, "FQDN"), h("dd", {}, v.fqdn),
      h("dt", {}, "DNS answer"), h("dd", {}, v.dns || "none"),
      h("dt", {}, "SE group"), h("dd", {}, link("#/group/" + encodeURIComponent(v.se_group), v.se_group)),
      h("dt", {}, "VIP on"), h("dd", {}, v.bound_to || "-"),
      h("dt", {}, "Span"), h("dd", {}, `${v.placement.length} SEs, ${v.desired_ses ?? "-"} wanted: ${v.scaling || ""}`),
      (v.vip_error || v.last_error) && [h("dt", {}, "Error"), h("dd", { class: "error" }, v.vip_error || v.last_error)])),
    h("div", { class: "actions" }, link("#/edit-vs/" + n, "Edit"),
      h("button", { class: "danger", type: "button", onclick: () => remove("/virtual-services/" + n, "#/") }, "Delete")),
    h("h2", {}, "Load against capacity (requests/s)"), rangePicker(),
    chart(s, [{ field: "rps", cls: "load", label: "load" }, { field: "capacity_rps", cls: "capacity", label: "capacity of its SEs" }]),
    h("h2", {}, "SEs carrying it"),
    table(["SE", "health", "rps"], v.placement.map((se) => {
      const x = seOf(se);
      return h("tr", {}, h("td", {}, se, se === v.bound_to ? " (VIP)" : ""), h("td", {}, badge(x && x.health)), h("td", {}, x ? num(x.rps) : "-"));
    }), "vs-ses"),
    h("h2", {}, "Events"), eventsTable(ev.events),
  ];
}

async function groupPage(name) {
  const n = encodeURIComponent(name);
  const [st, s, ev] = await Promise.all([api("GET", "/status"), history(`/analytics/se-groups/${n}`), api("GET", `/events?object=se_group/${n}&limit=30`)]);
  const g = st.groups.find((x) => x.name === name);
  if (!g) return [h("h1", {}, name), h("p", {}, "No such SE group.")];
  const byPhase = {};
  for (const se of g.ses) byPhase[se.phase] = (byPhase[se.phase] || 0) + 1;
  return [
    h("h1", {}, "SE group ", name),
    h("div", { class: "card" }, h("dl", { class: "kv" },
      h("dt", {}, "SEs"), h("dd", {}, `${g.healthy} healthy of ${g.current}, ${g.desired ?? "-"} wanted`),
      h("dt", {}, "By phase"), h("dd", {}, Object.entries(byPhase).map(([p, c]) => `${p}: ${c}`).join(", ") || "-"),
      h("dt", {}, "Autoscaler"), h("dd", {}, g.recommendation ? `${g.recommendation.desired} SEs: ${g.recommendation.reason}` : "-"),
      g.held && [h("dt", {}, "Held"), h("dd", {}, g.held)],
      g.upgrade && [h("dt", {}, "Upgrade"), h("dd", {}, g.upgrade)],
      g.last_error && [h("dt", {}, "Error"), h("dd", { class: "error" }, g.last_error)])),
    h("div", { class: "actions" }, link("#/edit-group/" + n, "Edit"),
      h("button", { class: "danger", type: "button", onclick: () => remove("/se-groups/" + n, "#/") }, "Delete")),
    h("h2", {}, "SEs over time"), rangePicker(),
    chart(s, [{ field: "desired", cls: "capacity", label: "desired" }, { field: "current", cls: "third", label: "current" }, { field: "healthy", cls: "load", label: "healthy" }]),
    h("h2", {}, "SEs"),
    table(["SE", "phase", "health", "host", "image", "rps", "services", "reason"], g.ses.map((se) =>
      h("tr", {}, h("td", {}, se.name), h("td", {}, badge(se.phase)), h("td", {}, badge(se.health)), h("td", {}, se.host || "-"),
        h("td", {}, se.image, se.current_template ? "" : " (old)"), h("td", {}, num(se.rps)), h("td", {}, se.virtual_services),
        h("td", {}, se.reason || "")))),
    h("h2", {}, "Events"), eventsTable(ev.events),
  ];
}

async function cloudsPage() {
  const clouds = await api("GET", "/clouds");
  return [h("h1", {}, "Clouds"), ...clouds.map((c) => h("div", { class: "card" }, h("h2", {}, c.name),
    h("dl", { class: "kv" }, Object.entries(c.capabilities).map(([k, v]) =>
      [h("dt", {}, k), h("dd", {}, typeof v === "object" && v !== null ? JSON.stringify(v) : String(v))]))))];
}

async function remove(path, then) {
  if (!confirm("Delete " + decodeURIComponent(path.split("/").pop()) + "?")) return;
  try { await api("DELETE", path); location.hash = then; } catch (e) { alert(e.message); }
}

// ----- forms -----

/** A labelled input whose errors show under it: `field` is the API's name of it. */
function field(label, name, value, opts = {}) {
  const id = "f-" + name.replace(/[^a-z0-9]/gi, "-");
  const input = opts.options
    ? h("select", { id, name, "data-field": name }, opts.options.map((o) => h("option", { value: o, selected: o === value }, o)))
    : h("input", { id, name, "data-field": name, value: value ?? "", type: opts.type || "text", readonly: opts.readonly });
  return h("div", {}, h("label", { for: id }, label, opts.hint ? h("span", { class: "hint" }, " " + opts.hint) : null), input,
    h("p", { class: "error", "data-error-for": name }));
}

/** Shows the API's error next to the field it names (or its nearest parent), else on top. */
function showError(form, e) {
  form.querySelectorAll(".error").forEach((el) => (el.textContent = ""));
  form.querySelectorAll(".invalid").forEach((el) => el.classList.remove("invalid"));
  let f = (e.body && e.body.field) || "";
  let target = null;
  while (f && !(target = form.querySelector(`[data-error-for="${CSS.escape(f)}"]`))) {
    f = f.replace(/(\.[^.[]*|\[\d+\])$/, "");
  }
  target = target || form.querySelector('[data-error-for="_form"]');
  target.textContent = e.message;
  const input = f && form.querySelector(`[data-field="${CSS.escape(f)}"]`);
  if (input) { input.classList.add("invalid"); input.focus(); }
}

const toInt = (s) => (/^\s*-?\d+\s*$/.test(s) ? Number(s) : s);
const toNum = (s) => (s.trim() !== "" && !isNaN(Number(s)) ? Number(s) : s);

function parsePorts(s) {
  return s.split(",").map((x) => x.trim()).filter(Boolean).map((x) => {
    const [port, protocol] = x.split("/");
    return { port: toInt(port), protocol: (protocol || "http").trim().toLowerCase() };
  });
}
function parseServers(s) {
  return s.split(",").map((x) => x.trim()).filter(Boolean).map((x) => {
    const i = x.lastIndexOf(":");
    return { address: i > 0 ? x.slice(0, i).replace(/^\[|\]$/g, "") : x, port: i > 0 ? toInt(x.slice(i + 1)) : "" };
  });
}

async function vsForm(name) {
  const groups = (await api("GET", "/se-groups")).map((g) => g.name);
  const v = name ? await api("GET", "/virtual-services/" + encodeURIComponent(name)) : { ports: [{ port: 80, protocol: "http" }], servers: [], se_group: groups[0] };
  const form = h("form", { class: "card", id: "vs-form" },
    h("p", { class: "error", "data-error-for": "_form" }),
    field("Name", "name", v.name, { readonly: !!name }),
    field("FQDN", "fqdn", v.fqdn),
    field("SE group", "se_group", v.se_group, { options: groups }),
    field("Ports", "ports", (v.ports || []).map((p) => `${p.port}/${p.protocol}`).join(", "), { hint: "like 80/http, 443/https" }),
    field("Servers", "servers", (v.servers || []).map((s) => `${s.address}:${s.port}`).join(", "), { hint: "ADDRESS:PORT, comma-separated" }),
    field("Fewest SEs", "min_ses", v.min_ses ?? 1),
    field("Most SEs", "max_ses", v.max_ses === undefined || v.max_ses >= 4294967295 ? "" : v.max_ses, { hint: "empty: no limit" }),
    field("Fixed VIP", "vip", v.vip || "", { hint: "empty: from the IPAM pool" }),
    h("button", { type: "submit" }, name ? "Save" : "Create"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const d = Object.fromEntries(new FormData(form));
    const body = { ...v, name: d.name, fqdn: d.fqdn, se_group: d.se_group, ports: parsePorts(d.ports), servers: parseServers(d.servers), min_ses: toInt(d.min_ses) };
    if (d.max_ses.trim()) body.max_ses = toInt(d.max_ses); else delete body.max_ses;
    if (d.vip.trim()) body.vip = d.vip.trim(); else delete body.vip;
    try {
      await api(name ? "PUT" : "POST", name ? "/virtual-services/" + encodeURIComponent(name) : "/virtual-services", body);
      location.hash = "#/vs/" + encodeURIComponent(body.name);
    } catch (e) { showError(form, e); }
  });
  return [h("h1", {}, name ? "Edit " + name : "New virtual service"), form];
}

async function groupForm(name) {
  const clouds = (await api("GET", "/clouds")).map((c) => c.name);
  const g = name ? await api("GET", "/se-groups/" + encodeURIComponent(name))
    : { cloud: clouds[0], template: { size: "2x4g", image: "" }, min_ses: 1, max_ses: 4, capacity: { rps: 1000 } };
  const form = h("form", { class: "card", id: "group-form" },
    h("p", { class: "error", "data-error-for": "_form" }),
    field("Name", "name", g.name, { readonly: !!name }),
    field("Cloud", "cloud", g.cloud, { options: clouds }),
    field("Image", "template.image", g.template.image),
    field("Size", "template.size", g.template.size, { hint: "a shape like 2x4g, or the cloud's type" }),
    field("Fewest SEs", "min_ses", g.min_ses),
    field("Most SEs", "max_ses", g.max_ses),
    field("Capacity of one SE (requests/s)", "capacity.rps", g.capacity.rps),
    h("button", { type: "submit" }, name ? "Save" : "Create"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const d = Object.fromEntries(new FormData(form));
    const body = { ...g, name: d.name, cloud: d.cloud, template: { ...g.template, image: d["template.image"], size: d["template.size"] },
      min_ses: toInt(d.min_ses), max_ses: toInt(d.max_ses), capacity: { ...g.capacity, rps: toNum(d["capacity.rps"]) } };
    try {
      await api(name ? "PUT" : "POST", name ? "/se-groups/" + encodeURIComponent(name) : "/se-groups", body);
      location.hash = "#/group/" + encodeURIComponent(body.name);
    } catch (e) { showError(form, e); }
  });
  return [h("h1", {}, name ? "Edit " + name : "New SE group"), form];
}

// ----- routing -----

const routes = [
  [/^#?\/?$/, () => overview(), true],
  [/^#\/vs\/(.+)$/, (m) => vsPage(decodeURIComponent(m[1])), true],
  [/^#\/group\/(.+)$/, (m) => groupPage(decodeURIComponent(m[1])), true],
  [/^#\/clouds$/, () => cloudsPage(), true],
  [/^#\/new-vs$/, () => vsForm(null), false],
  [/^#\/edit-vs\/(.+)$/, (m) => vsForm(decodeURIComponent(m[1])), false],
  [/^#\/new-group$/, () => groupForm(null), false],
  [/^#\/edit-group\/(.+)$/, (m) => groupForm(decodeURIComponent(m[1])), false],
];

async function route() {
  const hash = location.hash || "#/";
  const [, page, live] = routes.map(([re, f, l]) => [hash.match(re), f, l]).find(([m]) => m) || [null, () => overview(), true];
  const m = hash.match((routes.find(([re]) => re.test(hash)) || routes[0])[0]);
  const render = async () => {
    const nodes = await page(m);
    $("#view").replaceChildren(...[nodes].flat(3).filter(Boolean));
    stamp();
  };
  stopRefresh();
  try {
    await render();
    $("#login").hidden = true;
    $("#nav").hidden = false;
    // Pages refresh themselves; forms do not (an edit in progress must not be overwritten).
    if (live) startRefresh(render);
  } catch (e) {
    if (e.status !== 401) $("#view").replaceChildren(h("p", { class: "error" }, e.message));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", login);
  $("#logout").addEventListener("click", logout);
  window.addEventListener("hashchange", route);
  route();
});
