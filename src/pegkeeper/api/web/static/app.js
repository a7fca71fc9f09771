// pegkeeper dashboard: what every page shares. The live connection (server-sent events), the
// health banner, formatting in the viewer's locale and timezone, small DOM and chart helpers.
"use strict";

const PK = (() => {
  const config = JSON.parse(document.getElementById("page-config").textContent);
  const handlers = {};
  const TZ = Intl.DateTimeFormat().resolvedOptions().timeZone;

  // ---- formatting --------------------------------------------------------------------------
  const formats = {};
  function nf(min, max) {
    const key = `${min}:${max}`;
    if (!formats[key]) {
      formats[key] = new Intl.NumberFormat(undefined, {
        minimumFractionDigits: min,
        maximumFractionDigits: max,
      });
    }
    return formats[key];
  }
  const fmt = {
    number(value, min = 0, max = min) {
      if (value === null || value === undefined || value === "") return "–";
      const n = (typeof value === "number" ? value : Number(value)) + 0; // + 0: no "-0"
      return Number.isFinite(n) ? nf(min, max).format(n) : "–";
    },
    usdCents(cents) {
      return cents === null || cents === undefined ? "–" : `${fmt.number(cents / 100, 2)} USD`;
    },
    usd(value, digits = 2) {
      return value === null || value === undefined ? "–" : `${fmt.number(value, digits)} USD`;
    },
    btc(value) {
      return value === null || value === undefined ? "–" : `${fmt.number(value, 8)} BTC`;
    },
    contracts(value) {
      return value === null || value === undefined ? "–" : `${fmt.number(value, 0, 4)} contracts`;
    },
    ratio(value) {
      return value === null || value === undefined ? "–" : fmt.number(value, 4);
    },
    percent(fraction, digits = 1) {
      return fraction === null || fraction === undefined
        ? "–"
        : `${fmt.number(Number(fraction) * 100, digits)} %`;
    },
    bps(value) {
      return value === null || value === undefined ? "–" : `${fmt.number(value, 1)} bps`;
    },
    signed(value, min, max) {
      const n = Number(value);
      const text = fmt.number(Math.abs(n), min, max);
      return n > 0 ? `+${text}` : n < 0 ? `−${text}` : text;
    },
    time(ms) {
      if (!ms) return "–";
      return new Date(ms).toLocaleString(undefined, {
        year: "numeric", month: "short", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit",
      });
    },
    clock(ms) {
      return new Date(ms).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    },
    age(ms) {
      if (ms === null || ms === undefined) return "–";
      const s = ms / 1000;
      if (s < 60) return `${fmt.number(s, 1)} s`;
      if (s < 3600) return `${fmt.number(s / 60, 1)} min`;
      return `${fmt.number(s / 3600, 1)} h`;
    },
    short(id) {
      return id ? `${id.slice(0, 10)}…` : "–";
    },
  };

  // ---- DOM ---------------------------------------------------------------------------------
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  function $(selector, root = document) {
    return root.querySelector(selector);
  }
  function setField(name, text, raw, root = document) {
    for (const node of root.querySelectorAll(`[data-field="${name}"]`)) {
      node.textContent = text;
      if (raw !== undefined) node.dataset.value = raw === null ? "" : String(raw);
    }
  }
  function table(columns, rows, empty = "nothing yet") {
    if (!rows.length) return el("div", { class: "empty" }, empty);
    const head = el("tr", {}, columns.map((c) => el("th", { class: c.num ? "num" : "" }, c.label)));
    const body = rows.map((row) =>
      el("tr", { class: row._class || "", "data-id": row._id || null },
        columns.map((c) => {
          const value = c.value(row);
          return el("td", { class: [c.num ? "num" : "", c.cls ? c.cls(row) : ""].join(" ").trim() }, value);
        }),
      ),
    );
    return el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, head), el("tbody", {}, body)));
  }
  function replace(container, node) {
    container.replaceChildren(node);
  }

  // ---- timing helpers ------------------------------------------------------------------------
  function throttle(fn, ms) {
    let timer = null;
    let again = false;
    return function run() {
      if (timer) {
        again = true;
        return;
      }
      fn();
      timer = setTimeout(() => {
        timer = null;
        if (again) {
          again = false;
          run();
        }
      }, ms);
    };
  }

  // ---- data --------------------------------------------------------------------------------
  async function api(path) {
    const response = await fetch(path, { headers: { accept: "application/json" }, cache: "no-store" });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(body.error || body.detail || `${response.status} ${response.statusText}`);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  // ---- the live connection -----------------------------------------------------------------
  const live = {
    state: "connecting",
    source: null,
    bootId: null,
    lastMessageMs: 0,
    lastHeartbeat: null,
    retryMs: 1000,
    everConnected: false,
  };
  function on(name, fn) {
    (handlers[name] = handlers[name] || []).push(fn);
  }
  function emit(name, data) {
    for (const fn of handlers[name] || []) {
      try {
        fn(data);
      } catch (error) {
        console.error(`handler of ${name} failed`, error);
      }
    }
  }
  function setConnection(state, detail) {
    live.state = state;
    const badge = $("#conn-badge");
    badge.className = `badge conn-${state}`;
    badge.dataset.state = state;
    badge.textContent = { live: "live", stale: "no updates", disconnected: "disconnected", connecting: "connecting" }[state];
    badge.title = detail || "";
    // what the page last heard of the hedger may no longer be true
    $("#hedging-badge").classList.toggle("unknown", state === "disconnected" || state === "stale");
    renderBanner();
  }
  const EVENTS = ["liability", "decision", "order", "position", "operator", "peg"];
  function connect() {
    if (live.source) live.source.close();
    const source = new EventSource("/api/v1/events");
    live.source = source;
    source.addEventListener("hello", (message) => {
      const data = JSON.parse(message.data);
      const restarted = live.bootId !== null && live.bootId !== data.boot_id;
      const reconnected = live.everConnected;
      live.bootId = data.boot_id;
      live.heartbeatMs = data.heartbeat_ms;
      live.everConnected = true;
      live.retryMs = 1000;
      touch();
      setConnection("live");
      if (restarted || reconnected) emit("resync", { restarted });
    });
    source.addEventListener("heartbeat", (message) => {
      touch();
      live.lastHeartbeat = JSON.parse(message.data);
      if (live.state !== "live") setConnection("live");
      renderHedging(live.lastHeartbeat.hedging);
      renderBanner();
      emit("heartbeat", live.lastHeartbeat);
    });
    for (const name of EVENTS) {
      source.addEventListener(name, (message) => {
        touch();
        const data = JSON.parse(message.data);
        // the badge is the dealer's switch; the equity hedger's and the funding manager's
        // actions do not move it
        const own = /^(equities|funding)\./.test(String(data.action));
        const dealer = name === "operator" && !own;
        if (dealer) renderHedging({ paused: data.hedging_paused, by: data.operator, since_ms: data.ts_ms });
        emit(name, data);
      });
    }
    source.onerror = () => {
      setConnection("disconnected", "the server does not answer; reconnecting");
      if (source.readyState === EventSource.CLOSED) {
        // the browser gave up (an error answer): try again ourselves, a little later each time
        setTimeout(connect, live.retryMs);
        live.retryMs = Math.min(live.retryMs * 2, 10000);
      }
    };
  }
  function touch() {
    live.lastMessageMs = Date.now();
  }
  function watchdog() {
    const limit = 3 * (live.heartbeatMs || config.heartbeat_ms);
    if (live.state === "live" && Date.now() - live.lastMessageMs > limit) {
      setConnection("stale", `no message for ${fmt.age(Date.now() - live.lastMessageMs)}`);
    }
    const clock = $("#clock");
    if (clock) clock.textContent = fmt.clock(Date.now());
  }

  function renderHedging(hedging) {
    const badge = $("#hedging-badge");
    if (!hedging) {
      badge.textContent = "no hedger";
      badge.className = "badge";
      badge.dataset.paused = "";
      return;
    }
    badge.dataset.paused = hedging.paused ? "true" : "false";
    badge.textContent = hedging.paused ? "hedging paused" : "hedging active";
    badge.className = `badge ${hedging.paused ? "bad" : "good"}`;
    badge.classList.toggle("unknown", live.state === "disconnected" || live.state === "stale");
    badge.title = hedging.by ? `${hedging.paused ? "paused" : "resumed"} by ${hedging.by} at ${fmt.time(hedging.since_ms)}` : "";
  }

  function problems() {
    const list = [];
    if (live.state === "disconnected") {
      const when = live.lastMessageMs ? ` (last update ${fmt.clock(live.lastMessageMs)})` : "";
      list.push({ bad: true, text: `Connection to pegkeeper lost: reconnecting${when}. The numbers below may be out of date.` });
    } else if (live.state === "stale") {
      list.push({ bad: true, text: `No update from pegkeeper for ${fmt.age(Date.now() - live.lastMessageMs)}: the numbers below may be out of date.` });
    }
    const beat = live.lastHeartbeat;
    if (beat && live.state !== "disconnected") {
      for (const [service, state] of Object.entries(beat.services || {})) {
        if (state !== "ready") list.push({ bad: true, text: `${service}: ${state}` });
      }
      const stale = (beat.sources || []).filter((s) => s.stale);
      if (stale.length) {
        list.push({
          bad: false,
          text: `stale source${stale.length > 1 ? "s" : ""}: ${stale.map((s) => `${s.exchange} ${s.market} (${fmt.age(s.age_ms)})`).join(", ")}`,
        });
      }
      if (beat.hedging && beat.hedging.paused) {
        const by = beat.hedging.by ? ` by ${beat.hedging.by} at ${fmt.time(beat.hedging.since_ms)}` : "";
        list.push({ bad: false, text: `Hedging is paused${by}: no hedge order is sent until it is resumed.` });
      }
    }
    return list;
  }
  function renderBanner() {
    const banner = $("#banner");
    const list = problems();
    if (!list.length) {
      banner.classList.add("hidden");
      banner.replaceChildren();
      return;
    }
    banner.classList.remove("hidden");
    banner.classList.toggle("bad", list.some((p) => p.bad));
    banner.replaceChildren(el("ul", {}, list.map((p) => el("li", {}, p.text))));
  }

  // ---- charts ------------------------------------------------------------------------------
  function chart(container, series, options = {}) {
    const width = () => Math.max(container.clientWidth, 300);
    const axes = [
      { stroke: "#8a99a8", grid: { stroke: "#2a3644" }, ticks: { stroke: "#2a3644" } },
      { stroke: "#8a99a8", grid: { stroke: "#2a3644" }, ticks: { stroke: "#2a3644" }, size: 80, ...(options.yAxis || {}) },
    ];
    if (options.y2) {
      axes.push({ scale: "y2", side: 1, stroke: "#8a99a8", grid: { show: false }, size: 60, ...options.y2 });
    }
    if (options.y3) {
      axes.push({ scale: "y3", side: 1, stroke: "#8a99a8", grid: { show: false }, size: 60, ...options.y3 });
    }
    const plot = new uPlot(
      {
        width: width(),
        height: options.height || 240,
        series: [{ value: (u, v) => (v === null ? "–" : fmt.time(v * 1000)) }, ...series],
        axes,
        scales: { x: { time: true }, ...(options.scales || {}) },
        cursor: { drag: { x: true, y: false } },
        legend: { live: true },
        tzDate: (ts) => new Date(ts * 1000),
      },
      [[], ...series.map(() => [])],
      container,
    );
    new ResizeObserver(() => plot.setSize({ width: width(), height: options.height || 240 })).observe(container);
    return plot;
  }

  // ---- operator actions ---------------------------------------------------------------------
  const TOKEN_KEY = "pegkeeper-operator-token";
  const operator = {
    token() {
      return sessionStorage.getItem(TOKEN_KEY) || "";
    },
    remember(token) {
      if (token) sessionStorage.setItem(TOKEN_KEY, token);
      else sessionStorage.removeItem(TOKEN_KEY);
    },
    async call(path, body) {
      const headers = { "content-type": "application/json", accept: "application/json" };
      const token = operator.token();
      if (token) headers.authorization = `Bearer ${token}`;
      const response = await fetch(path, {
        method: "POST",
        headers,
        body: JSON.stringify(body || {}),
        credentials: "omit",
        cache: "no-store",
      });
      const data = await response.json().catch(() => ({}));
      return { status: response.status, ok: response.ok, data };
    },
    async whoami() {
      const token = operator.token();
      if (!token) return null;
      const response = await fetch("/api/v1/operator/whoami", {
        headers: { authorization: `Bearer ${token}` },
        credentials: "omit",
      });
      const data = await response.json().catch(() => ({}));
      return { status: response.status, data };
    },
  };

  document.addEventListener("DOMContentLoaded", () => {
    const tz = $("#tz");
    if (tz) tz.textContent = TZ;
    connect();
    setInterval(watchdog, 500);
    watchdog();
  });

  return { config, fmt, el, $, setField, table, replace, throttle, api, on, emit, live, chart, operator };
})();
