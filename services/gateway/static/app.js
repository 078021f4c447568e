// Tradebus dashboard: plain JS, no build step. Reads the gateway's API with the bearer token kept in
// sessionStorage, and follows /api/events (server-sent events read through fetch, so the token
// travels in the Authorization header, never in a URL).
"use strict";

const KEY = "tradebus.token";
const COLORS = ["#58a6ff", "#3fb950", "#d29922", "#f85149", "#bc8cff", "#39c5cf", "#ff7b72", "#e3b341"];
const S = { token: sessionStorage.getItem(KEY), who: null, strategies: new Map(), pnl: { account: {}, strategies: {} },
            health: new Map(), fills: [], risk: [], stream: null, timers: {} };
const $ = (sel) => document.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, "");
    else if (v !== false && v != null) e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return e;
}

const num = (v, digits = 2) => (v == null || v === "" ? "" : Number(v).toFixed(digits));
const signed = (v) => el("span", { class: Number(v) > 0 ? "pos" : Number(v) < 0 ? "neg" : "" }, num(v));
const time = (ns) => new Date(Number(ns) / 1e6).toLocaleTimeString();

function toast(message) {
  const t = $("#toast");
  t.textContent = message;
  t.classList.add("show");
  clearTimeout(S.timers.toast);
  S.timers.toast = setTimeout(() => t.classList.remove("show"), 6000);
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${S.token}`, ...(options.body ? { "Content-Type": "application/json" } : {}) };
  const r = await fetch(path, { ...options, headers });
  if (r.status === 401) { logout("Your token was refused."); throw new Error("unauthorized"); }
  const body = r.headers.get("content-type")?.includes("json") ? await r.json() : await r.text();
  if (!r.ok) {
    const d = body && body.detail;
    const text = Array.isArray(d) ? d.map((x) => `${x.loc.slice(1).join(".")}: ${x.msg}`).join("; ") : d || r.statusText;
    throw new Error(`${r.status}: ${text}`);
  }
  return body;
}

// -- login -------------------------------------------------------------------------------------

function showLogin(message = "") {
  $("#login-error").textContent = message;
  if (!$("#login-dialog").open) $("#login-dialog").showModal();
  $("#token").focus();
}

function logout(message = "") {
  sessionStorage.removeItem(KEY);
  S.token = null;
  if (S.stream) S.stream.abort();
  showLogin(message);
}

$("#login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  S.token = $("#token").value.trim();
  try {
    S.who = await api("/api/whoami");
  } catch (e) {
    showLogin(e.message === "unauthorized" ? "Your token was refused." : e.message);
    return;
  }
  sessionStorage.setItem(KEY, S.token);
  $("#login-dialog").close();
  start();
});
$("#logout").addEventListener("click", () => logout());

// -- loading -----------------------------------------------------------------------------------

async function start() {
  if (!S.who) S.who = await api("/api/whoami");
  $("#whoami").textContent = `${S.who.name} (${S.who.role})`;
  document.body.classList.toggle("viewer", S.who.role !== "operator");
  for (const b of document.querySelectorAll("button.operator")) b.disabled = S.who.role !== "operator";
  await Promise.allSettled([loadStrategies(), loadPnl(), loadPositions(), loadOrders(), loadFills(), loadRisk(),
                            loadHealth(), loadKill(), loadEquity()]);
  follow();
  clearInterval(S.timers.poll);
  S.timers.poll = setInterval(() => { loadPnl(); loadEquity(); }, 5000);
}

const guard = (fn) => async (...args) => { try { await fn(...args); } catch (e) { if (e.message !== "unauthorized") toast(e.message); } };

const loadStrategies = guard(async () => {
  S.strategies = new Map((await api("/api/strategies")).map((s) => [s.name, s]));
  renderStrategies();
});
const loadPnl = guard(async () => { S.pnl = await api("/api/pnl"); renderStrategies(); });
const loadHealth = guard(async () => {
  for (const s of (await api("/api/health")).services) S.health.set(s.service, s);
  renderHealth();
});
const loadKill = guard(async () => renderKill(await api("/api/kill-switch")));
const loadFills = guard(async () => { S.fills = (await api("/api/fills?limit=50")).fills; renderFills(); });
const loadRisk = guard(async () => { S.risk = (await api("/api/risk?limit=50")).events; renderRisk(); });

const loadPositions = guard(async () => {
  const p = await api("/api/positions");
  const symbols = [...new Set([...Object.keys(p.venue), ...Object.keys(p.net_target)])].sort();
  const by = (sym) => Object.entries(p.strategies).filter(([, m]) => m[sym] && Number(m[sym]) !== 0)
    .map(([st, m]) => `${st} ${m[sym]}`).join(", ");
  $("#positions tbody").replaceChildren(...symbols.map((sym) => el("tr", { "data-symbol": sym },
    el("td", {}, sym), el("td", { class: "num" }, p.venue[sym] ?? "0"), el("td", { class: "num" }, p.net_target[sym] ?? "0"),
    el("td", {}, by(sym)))));
});

const loadOrders = guard(async () => {
  const { orders } = await api("/api/orders");
  $("#orders tbody").replaceChildren(...orders.map((o) => el("tr", {},
    el("td", {}, o.owner), el("td", {}, o.symbol), el("td", { class: o.side === "buy" ? "pos" : "neg" }, o.side),
    el("td", {}, o.type), el("td", { class: "num" }, o.qty), el("td", { class: "num" }, o.price ?? ""), el("td", {}, o.status))));
});

const loadEquity = guard(async () => renderEquity((await api("/api/equity?max_points=300")).series));

function later(name, fn, ms = 500) {
  clearTimeout(S.timers[name]);
  S.timers[name] = setTimeout(fn, ms);
}

// -- rendering ---------------------------------------------------------------------------------

function renderStrategies() {
  const operator = S.who && S.who.role === "operator";
  const rows = [...S.strategies.values()].map((s) => {
    const f = S.pnl.strategies[s.name] || {};
    const toggle = (cls, on, action) => el("input", {
      type: "checkbox", class: cls, checked: on, disabled: !operator, "aria-label": `${cls} ${s.name}`,
      onchange: guard(async (ev) => {
        ev.target.disabled = true;
        try { S.strategies.set(s.name, await action(ev.target.checked)); }
        finally { renderStrategies(); }
      }),
    });
    const editor = el("textarea", { class: "params-edit", spellcheck: "false" }, JSON.stringify(s.params, null, 1));
    const params = el("details", {}, el("summary", {}, Object.entries(s.params).slice(0, 3).map(([k, v]) => `${k}=${v}`).join(" ") + " …"),
      editor, el("br"),
      el("button", { type: "button", class: "save-params", disabled: !operator, onclick: guard(async () => {
        let parsed;
        try { parsed = JSON.parse(editor.value); } catch (e) { throw new Error(`parameters: not JSON: ${e.message}`); }
        S.strategies.set(s.name, await api(`/api/strategies/${s.name}/params`, { method: "PUT", body: JSON.stringify({ params: parsed }) }));
        renderStrategies();
      }) }, "Save"));
    return el("tr", { "data-name": s.name, "data-enabled": String(s.enabled) },
      el("td", {}, el("b", {}, s.name)), el("td", {}, s.kind),
      el("td", {}, el("span", { class: `badge ${s.state}` }, s.state)),
      el("td", {}, toggle("enabled", s.enabled, (on) => api(`/api/strategies/${s.name}/${on ? "enable" : "disable"}`, { method: "POST" }))),
      el("td", {}, toggle("dry-run", s.dry_run, (on) => api(`/api/strategies/${s.name}/dry-run`, { method: "PUT", body: JSON.stringify({ dry_run: on }) }))),
      el("td", { class: "num pnl" }, signed(f.pnl)), el("td", { class: "num" }, signed(f.realized)),
      el("td", { class: "num" }, signed(f.unrealized)), el("td", { class: "num" }, num(f.fees)),
      el("td", { class: "num trades" }, f.trade_count ?? 0),
      el("td", { class: "num" }, f.win_rate == null ? "" : `${Math.round(f.win_rate * 100)}%`),
      el("td", { class: "positions" }, f.positions || ""),
      el("td", {}, params),
      el("td", {}, el("button", { type: "button", class: "flatten", disabled: !operator, onclick: guard(async () => {
        if (!confirm(`Flatten ${s.name}: target 0 on every symbol?`)) return;
        await api(`/api/strategies/${s.name}/flatten`, { method: "POST" });
        toast(`${s.name}: flatten sent`);
      }) }, "Flatten")));
  });
  $("#strategies tbody").replaceChildren(...rows);
  const a = S.pnl.account || {};
  $("#account").replaceChildren(el("td", {}, "account"), el("td"), el("td"), el("td"), el("td"),
    el("td", { class: "num" }, signed(a.pnl)), el("td", { class: "num" }, signed(a.realized)),
    el("td", { class: "num" }, signed(a.unrealized)), el("td", { class: "num" }, num(a.fees)),
    el("td", { class: "num" }, a.trade_count ?? ""), el("td"), el("td", {}, a.positions || ""), el("td"), el("td"));
}

function renderFills() {
  $("#fills tbody").replaceChildren(...S.fills.slice(0, 50).map((f) => el("tr", { "data-strategy": f.strategy, "data-id": f.fill_id },
    el("td", {}, time(f.ts_event)), el("td", {}, f.strategy), el("td", {}, f.symbol),
    el("td", { class: f.side === "buy" ? "pos" : "neg" }, f.side), el("td", { class: "num" }, f.qty),
    el("td", { class: "num" }, f.price), el("td", {}, f.liquidity))));
}

function renderRisk() {
  $("#risk tbody").replaceChildren(...S.risk.slice(0, 50).map((e) => el("tr", {},
    el("td", {}, time(e.ts_event)), el("td", {}, e.kind), el("td", {}, e.strategy ?? ""), el("td", {}, e.symbol ?? ""),
    el("td", { title: e.reason }, e.reason.length > 80 ? e.reason.slice(0, 80) + "…" : e.reason))));
}

function renderHealth() {
  $("#health tbody").replaceChildren(...[...S.health.values()].sort((a, b) => a.service.localeCompare(b.service))
    .map((s) => el("tr", {}, el("td", {}, s.service), el("td", {}, el("span", { class: `badge ${s.state}` }, s.state)), el("td", {}, s.instance))));
}

function renderKill(ks) {
  const k = $("#kill");
  k.textContent = ks.active ? `KILL SWITCH ON${ks.flatten ? " (flatten)" : ""} ${ks.reason}` : "kill switch off";
  k.className = `badge ${ks.active ? "active" : "on"}`;
}

function renderEquity(series) {
  const svg = $("#equity");
  const names = Object.keys(series).filter((n) => series[n].length > 1);
  const all = names.flatMap((n) => series[n]);
  if (!all.length) { svg.replaceChildren(); $("#legend").replaceChildren("no history yet"); return; }
  const t0 = Math.min(...all.map((p) => Number(p.ts_event))), t1 = Math.max(...all.map((p) => Number(p.ts_event)));
  const v = all.map((p) => Number(p.pnl)), lo = Math.min(0, ...v), hi = Math.max(0, ...v);
  const x = (t) => ((Number(t) - t0) / Math.max(1, t1 - t0)) * 1000;
  const y = (p) => 210 - ((Number(p) - lo) / Math.max(1e-9, hi - lo)) * 200;
  const ns = "http://www.w3.org/2000/svg";
  const zero = document.createElementNS(ns, "line");
  Object.entries({ x1: 0, x2: 1000, y1: y(0), y2: y(0), stroke: "#2a333d" }).forEach(([k, val]) => zero.setAttribute(k, val));
  const lines = names.map((n, i) => {
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", series[n].map((p) => `${x(p.ts_event).toFixed(1)},${y(p.pnl).toFixed(1)}`).join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", COLORS[i % COLORS.length]);
    line.setAttribute("stroke-width", n === "net" ? "2.5" : "1.5");
    line.setAttribute("vector-effect", "non-scaling-stroke");
    line.dataset.book = n;
    return line;
  });
  svg.replaceChildren(zero, ...lines);
  $("#legend").replaceChildren(...names.map((n, i) => el("span", { style: `color:${COLORS[i % COLORS.length]}` },
    `${n === "net" ? "account" : n} ${num(series[n][series[n].length - 1].pnl)}`)));
}

// -- live updates ------------------------------------------------------------------------------

const handlers = {
  hello: () => { $("#status").textContent = "live"; $("#status").className = "badge on"; },
  strategy: (s) => { S.strategies.set(s.name, s); renderStrategies(); },
  kill_switch: renderKill,
  fill: (f) => {
    S.fills.unshift(f); S.fills.length = Math.min(S.fills.length, 50); renderFills();
    later("after-fill", () => { loadPnl(); loadPositions(); });
  },
  order: () => later("orders", loadOrders),
  position: () => later("positions", loadPositions),
  risk: (e) => { S.risk.unshift(e); S.risk.length = Math.min(S.risk.length, 50); renderRisk(); },
  heartbeat: (hb) => {
    S.health.set(hb.service, { service: hb.service, instance: hb.instance, state: hb.state });
    later("health", renderHealth, 1000);
    const name = hb.service.startsWith("signals-") ? hb.service.slice(8) : null;
    const s = name && S.strategies.get(name);
    if (s && s.state !== hb.state) { s.state = hb.state; later("strategies", renderStrategies, 200); }
  },
};

async function follow() {
  if (S.stream) S.stream.abort();
  const ctrl = new AbortController();
  S.stream = ctrl;
  try {
    const r = await fetch("/api/events", { headers: { Authorization: `Bearer ${S.token}` }, signal: ctrl.signal });
    if (r.status === 401) { logout("Your token was refused."); return; }
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let event = "message", data = "";
        for (const line of frame.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (data && handlers[event]) handlers[event](JSON.parse(data));
      }
    }
  } catch (e) {
    if (ctrl.signal.aborted) return;
  }
  if (ctrl.signal.aborted || !S.token) return;
  $("#status").textContent = "reconnecting";
  $("#status").className = "badge off";
  setTimeout(() => S.token && start(), 2000);  // the stream ended: reload everything, then follow again
}

// -- kill switch -------------------------------------------------------------------------------

$("#kill-on").addEventListener("click", guard(async () => {
  const reason = prompt("Kill switch ON: every order is cancelled and intents are ignored. Reason?");
  if (reason === null) return;
  const flatten = confirm("Also close every position (flatten)?");
  renderKill(await api("/api/kill-switch", { method: "PUT", body: JSON.stringify({ active: true, flatten, reason }) }));
}));
$("#kill-off").addEventListener("click", guard(async () => {
  if (!confirm("Release the kill switch? Trading resumes towards the strategies' targets.")) return;
  renderKill(await api("/api/kill-switch", { method: "PUT", body: JSON.stringify({ active: false }) }));
}));

if (S.token) start().catch(() => showLogin()); else showLogin();
