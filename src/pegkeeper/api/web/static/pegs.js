// Pegs: a card per stablecoin with its price, deviation from 1 USD, stability statistics,
// a live chart and the per-exchange rates the price is aggregated from.
"use strict";

(() => {
  const { fmt, el, $, setField, table, api, on, throttle, chart } = PK;
  const WINDOW_S = { "1h": 3600, "24h": 86400, "7d": 604800 };
  const cards = {};

  function level(deviationBps) {
    const d = Math.abs(deviationBps);
    if (d >= 100) return ["depeg", "depegged"];
    if (d >= 25) return ["warn", "drifting"];
    return ["ok", "holding"];
  }

  function card(symbol) {
    if (cards[symbol]) return cards[symbol];
    const root = document.querySelector(`.peg-card[data-symbol="${symbol}"]`);
    if (!root) return null;
    const plot = chart(root.querySelector("[data-chart]"), [
      { label: "price USD", stroke: "#4c9be8", width: 2, value: (u, v) => fmt.number(v, 6) },
      { label: "score", stroke: "#3fb97f", width: 1, scale: "y2", value: (u, v) => fmt.number(v, 2) },
    ], {
      height: 220,
      yAxis: { values: (u, vals) => vals.map((v) => v.toFixed(4)) },
      y2: {},
      scales: { y2: { range: [0, 10] } },
    });
    cards[symbol] = { root, plot, xs: [], prices: [], scores: [] };
    return cards[symbol];
  }

  function showPrice(symbol, price, tsMs, score) {
    const c = card(symbol);
    if (!c) return;
    const deviation = (price - 1) * 10000;
    const [cls, word] = level(deviation);
    c.root.classList.remove("ok", "warn", "depeg");
    c.root.classList.add(cls);
    c.root.dataset.price = String(price);
    c.root.dataset.deviationBps = String(deviation);
    setField("price", fmt.number(price, 6, 6), price, c.root);
    setField("deviation", `${fmt.signed(deviation, 1, 1)} bps`, deviation, c.root);
    setField("status", word, cls, c.root);
    if (score !== undefined && score !== null) setField("score", fmt.number(score, 2), score, c.root);
    setField("as-of", `as of ${fmt.time(tsMs)}`, tsMs, c.root);
  }

  function stats(peg) {
    const rows = [{ name: `last ${peg.count} prices`, ...peg }];
    for (const [name, s] of Object.entries(peg.windows || {})) rows.push({ name, ...s });
    const metric = (key) => (r) => `${fmt.number(r[key], 6)} (${fmt.number(r[`${key}_score`], 2)})`;
    return table([
      { label: "window", value: (r) => r.name },
      { label: "rmse (score)", num: true, value: metric("rmse") },
      { label: "stdev (score)", num: true, value: metric("stdev") },
      { label: "drawdown (score)", num: true, value: metric("drawdown") },
      { label: "stability score", num: true, value: (r) => fmt.number(r.score, 2) },
    ], rows);
  }

  function rates(peg) {
    const rows = [];
    for (const pair of peg.rates || []) {
      for (const source of pair.sources) {
        rows.push({ pair: pair.pair, value: pair.value, ...source });
      }
    }
    return table([
      { label: "pair", value: (r) => r.pair },
      { label: "exchange", value: (r) => r.exchange },
      { label: "best bid", num: true, value: (r) => r.bid ?? "–" },
      { label: "used", value: (r) => (r.used ? "yes" : `no: ${r.rejected || "–"}`), cls: (r) => (r.used ? "good-text" : "warn-text") },
      { label: "pair rate", num: true, value: (r) => r.value ?? "–" },
    ], rows, "no rates");
  }

  async function loadPegs() {
    const d = await api("/api/v1/pegs");
    for (const peg of d.pegs) {
      const c = card(peg.symbol);
      if (!c) continue;
      if (peg.price === null) {
        setField("status", peg.reason, "waiting", c.root);
        continue;
      }
      showPrice(peg.symbol, Number(peg.price), peg.ts_ms, peg.score);
      PK.replace(c.root.querySelector("[data-stats]"), stats(peg));
      PK.replace(c.root.querySelector("[data-rates]"), rates(peg));
    }
  }

  async function loadHistory(symbol) {
    const c = card(symbol);
    const windowName = $("#window").value;
    const d = await api(`/api/v1/pegs/${symbol}/history?window=${windowName}&max_points=600`);
    c.xs = d.points.map((p) => p.ts_ms / 1000);
    c.prices = d.points.map((p) => p.price);
    c.scores = d.points.map((p) => p.score);
    c.root.dataset.points = String(c.xs.length);
    c.plot.setData([c.xs, c.prices, c.scores]);
  }

  const redraw = {};
  function pushPoint(event) {
    const c = card(event.symbol);
    if (!c) return;
    const x = event.ts_ms / 1000;
    if (c.xs.length && x < c.xs[c.xs.length - 1]) {
      // the recorded market looped back to its start: begin a new line
      c.xs = [];
      c.prices = [];
      c.scores = [];
    }
    c.xs.push(x);
    c.prices.push(event.price);
    c.scores.push(event.score);
    const since = x - WINDOW_S[$("#window").value];
    while (c.xs.length && c.xs[0] < since) {
      c.xs.shift();
      c.prices.shift();
      c.scores.shift();
    }
    c.root.dataset.points = String(c.xs.length);
    if (!redraw[event.symbol]) {
      redraw[event.symbol] = requestAnimationFrame(() => {
        redraw[event.symbol] = 0;
        c.plot.setData([c.xs, c.prices, c.scores]);
      });
    }
  }

  function renderSources(beat) {
    PK.replace($("#sources"), table([
      { label: "exchange", value: (s) => s.exchange },
      { label: "market", value: (s) => s.market },
      { label: "last quote", num: true, value: (s) => `${fmt.age(s.age_ms)} ago` },
      { label: "state", value: (s) => (s.stale ? "stale" : "fresh"), cls: (s) => (s.stale ? "bad-text" : "good-text") },
    ], beat.sources, "no source has sent a quote yet"));
  }

  const refresh = throttle(() => loadPegs().catch(console.error), 1000);
  function reloadAll() {
    refresh();
    for (const symbol of PK.config.symbols) loadHistory(symbol).catch(console.error);
  }
  on("peg", (event) => {
    showPrice(event.symbol, event.price, event.ts_ms, event.score);
    pushPoint(event);
    refresh();
  });
  on("heartbeat", renderSources);
  on("resync", reloadAll);
  document.addEventListener("DOMContentLoaded", () => {
    $("#window").addEventListener("change", reloadAll);
    reloadAll();
  });
})();
