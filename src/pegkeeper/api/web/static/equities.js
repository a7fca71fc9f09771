// Equities: per symbol the maker's onchain net, what is hedged and pending at the broker, the
// open exposure with its age and why it waits, P&L by bucket and over time, the chain
// ingestion's liveness, and the fill-to-hedge trail of a chosen symbol.
"use strict";

(() => {
  const { fmt, el, $, setField, table, api, on, throttle, chart, operator } = PK;
  let plot = null;
  let symbols = [];
  let chosen = null; // the symbol whose trail is shown

  const shares = (v) => (v === null || v === undefined ? "–" : fmt.number(v, 0, 9));
  const signedShares = (v) => (v === null || v === undefined ? "–" : fmt.signed(v, 0, 9));
  const usd = (v) => (v === null || v === undefined ? "–" : `${fmt.signed(v, 2, 2)} USD`);
  const age = (seconds) => (seconds === null || seconds === undefined ? "–" : fmt.age(seconds * 1000));

  function notConfigured() {
    PK.replace($("#equities"), el("div", { class: "empty", id: "equities-none" },
      "No equities are configured: the tokenized-equity hedger is not part of this installation. ",
      "Once it runs, each symbol shows here with its onchain net position, what is hedged and pending at the broker, its P&L, and its fills with their broker orders."));
    $("#equities").classList.remove("hidden");
    $("#equities-live").classList.add("hidden");
  }

  async function load() {
    const d = await api("/api/v1/equities");
    if (!d.configured) {
      notConfigured();
      return false;
    }
    $("#equities").classList.add("hidden");
    $("#equities-live").classList.remove("hidden");
    $("#eq-as-of").textContent = `as of ${fmt.time(d.now_ms)}`;
    symbols = d.symbols.map((s) => s.symbol);
    renderPositions(d.symbols);
    renderCards(d);
    renderIngestion(d);
    fillSymbolChoices();
    setOperatorMode(d.operator_actions);
    return true;
  }

  function inFlight(order) {
    if (!order) return "–";
    return `${order.client_order_id}: ${order.side} ${shares(order.quantity)}, ${shares(order.filled)} filled (${order.state})`;
  }

  function renderPositions(rows) {
    PK.replace($("#positions"), table(
      [
        { label: "symbol", value: (s) => s.symbol, cls: () => "col-symbol" },
        { label: "onchain net", num: true, value: (s) => signedShares(s.onchain_net), cls: () => "col-onchain" },
        { label: "hedged", num: true, value: (s) => signedShares(s.hedged), cls: () => "col-hedged" },
        { label: "pending", num: true, value: (s) => signedShares(s.pending), cls: () => "col-pending" },
        { label: "exposure", num: true, value: (s) => signedShares(s.exposure), cls: () => "col-exposure" },
        { label: "exposure USD", num: true, value: (s) => usd(s.exposure_usd), cls: () => "col-exposure-usd" },
        { label: "age", num: true, value: (s) => age(s.exposure_age_seconds), cls: () => "col-age" },
        { label: "waiting", value: (s) => s.waiting_reason || "–", cls: () => "col-waiting" },
        { label: "order in flight", value: (s) => inFlight(s.in_flight), cls: () => "col-in-flight" },
        { label: "last price", num: true, value: (s) => (s.last_price_usd === null ? "–" : fmt.number(s.last_price_usd, 2, 6)), cls: () => "col-price" },
        { label: "realised", num: true, value: (s) => usd(s.realised_pnl_usd), cls: () => "col-realised" },
        { label: "unrealised", num: true, value: (s) => usd(s.unrealised_pnl_usd), cls: () => "col-unrealised" },
      ],
      rows.map((s) => ({ ...s, _id: s.symbol, _class: [s.paused ? "paused" : "", s.symbol === chosen ? "selected" : ""].join(" ").trim() })),
      "no symbol configured",
    ));
  }

  function renderCards(d) {
    const priced = d.symbols.filter((s) => s.exposure_usd !== null);
    const unhedged = priced.reduce((sum, s) => sum + Math.abs(Number(s.exposure_usd)), 0);
    const open = d.symbols.filter((s) => Number(s.exposure) !== 0).length;
    setField("unhedged", `${fmt.number(unhedged, 2, 2)} USD`, unhedged);
    const ages = d.symbols.map((s) => s.exposure_age_seconds).filter((a) => a !== null);
    const oldest = ages.length ? Math.max(...ages) : null;
    setField("oldest", open ? `${open} symbol${open > 1 ? "s" : ""} open, the oldest for ${age(oldest)}` : "every symbol hedged", oldest);
    const chain = d.ingestion;
    $("#card-unhedged").className = `card ${open ? "warn" : "good"}`;
    setField("lag", chain.lag_blocks === null ? "–" : `${chain.lag_blocks} blocks · ${chain.lag_seconds} s`, chain.lag_blocks);
    setField("checkpoint", chain.checkpoint_block === null ? "nothing read yet" : `checkpoint block ${chain.checkpoint_block}, ${fmt.time(chain.checkpoint_time_ms)}`);
    $("#card-chain").className = `card ${chain.consecutive_failures ? "bad" : chain.running ? "good" : ""}`;
  }

  function renderIngestion(d) {
    const chain = d.ingestion;
    const row = (label, value, field) => [el("dt", {}, label), el("dd", { "data-field": field }, value)];
    const failing = chain.consecutive_failures
      ? `${chain.consecutive_failures} in a row: ${chain.last_error}`
      : chain.running ? "none" : "ingestion does not run in this process";
    const ledger = d.ledger;
    const breaks = !ledger
      ? "no reconciler in this process"
      : ledger.breaks === 0
        ? `every invariant held (checked ${fmt.time(ledger.checked_at_ms)})`
        : `${ledger.breaks} broken: ${Object.entries(ledger.by_scope).filter(([, n]) => n).map(([s, n]) => `${s} ${n}`).join(", ")}`;
    const all = d.switches ? d.switches.global : null;
    const switches = !all
      ? "no switches in this process"
      : all.paused ? `every symbol paused by ${all.by || "an operator"} at ${fmt.time(all.since_ms)}${all.note ? ` (${all.note})` : ""}` : "active";
    const probe = d.broker;
    const broker = !probe
      ? "not checked yet"
      : probe.ok
        ? `${probe.broker}: market ${probe.session}, cash ${fmt.number(probe.cash_usd, 2, 2)} USD (checked ${fmt.time(probe.checked_at_ms)})`
        : `${probe.broker}: ${probe.problems.join("; ")}`;
    $("#ingestion").replaceChildren(
      ...row("broker", broker, "eq-broker"),
      ...row("checkpoint", chain.checkpoint_block === null ? "nothing read yet" : `block ${chain.checkpoint_block} (${fmt.time(chain.checkpoint_time_ms)})`, "eq-checkpoint"),
      ...row("cutoff", chain.cutoff_block === null ? "–" : `block ${chain.cutoff_block}`, "eq-cutoff"),
      ...row("behind the cutoff", chain.lag_blocks === null ? "–" : `${chain.lag_blocks} blocks, ${chain.lag_seconds} s`, "eq-lag"),
      ...row("failed polls", failing, "eq-failures"),
      ...row("ledger", breaks, "eq-ledger"),
      ...row("hedging", switches, "eq-switches"),
    );
    $('[data-field="eq-failures"]').className = chain.consecutive_failures ? "bad-text" : "";
    $('[data-field="eq-ledger"]').className = ledger && ledger.breaks ? "bad-text" : "";
    $('[data-field="eq-broker"]').className = probe && !probe.ok ? "bad-text" : "";
    const counted = Object.entries(chain.skipped).filter(([, n]) => n > 0);
    PK.replace($("#skipped"), table(
      [
        { label: "reason", value: ([reason]) => reason },
        { label: "logs", num: true, value: ([, n]) => fmt.number(n) },
      ],
      counted.map((pair) => Object.assign(pair, { _id: pair[0] })),
      "none skipped",
    ));
  }

  async function loadPnl() {
    const d = await api("/api/v1/equities/pnl?max_points=600");
    if (!d.configured) return;
    setField("net-realised", usd(d.net_realised_usd), d.net_realised_usd);
    setField("realised-detail", `realised ${usd(d.realised_usd)}, fees ${fmt.number(d.fees_usd, 2, 6)} USD, rebalancing ${fmt.number(d.rebalancing_costs_usd, 2, 6)} USD`);
    setField("unrealised", usd(d.unrealised_usd), d.unrealised_usd);
    setField("total", `total ${usd(d.total_usd)}`, d.total_usd);
    const values = { ...d.buckets, fees: d.fees_usd, rebalancing: d.rebalancing_costs_usd, net: d.net_realised_usd, unrealised: d.unrealised_usd, total: d.total_usd };
    for (const row of document.querySelectorAll("#pnl-buckets tr[data-bucket]")) {
      const value = values[row.dataset.bucket];
      const cell = row.querySelector("[data-usd]");
      const cost = row.dataset.bucket === "fees" || row.dataset.bucket === "rebalancing";
      cell.textContent = cost ? `${fmt.number(value, 2, 6)} USD` : usd(value);
      row.dataset.value = value === null || value === undefined ? "" : value;
    }
    PK.replace($("#pnl-symbols"), table(
      [
        { label: "symbol", value: (s) => s.symbol },
        { label: "counter trade", num: true, value: (s) => usd(s.buckets.counter_trade) },
        { label: "onchain netting", num: true, value: (s) => usd(s.buckets.onchain_netting) },
        { label: "directional", num: true, value: (s) => usd(s.buckets.directional_exposure) },
        { label: "fees", num: true, value: (s) => `${fmt.number(s.fees_usd, 2, 6)} USD` },
        { label: "open lots", num: true, value: (s) => signedShares(s.position_shares) },
        { label: "trades", num: true, value: (s) => fmt.number(s.trades) },
      ],
      d.symbols.map((s) => ({ ...s, _id: s.symbol })),
      "no trade yet",
    ));
    if (!plot) {
      plot = chart($("#chart-eq-pnl"), [
        { label: "realised USD", stroke: "#3fb97f", width: 2, paths: uPlot.paths.stepped({ align: 1 }), value: (u, v) => fmt.number(v, 2, 6) },
        { label: "net of fees USD", stroke: "#4c9be8", width: 2, paths: uPlot.paths.stepped({ align: 1 }), value: (u, v) => fmt.number(v, 2, 6) },
      ], { height: 260 });
    }
    plot.setData([
      d.points.map((p) => p.ts_ms / 1000),
      d.points.map((p) => Number(p.realised_usd)),
      d.points.map((p) => Number(p.net_usd)),
    ]);
    $("#chart-eq-pnl").dataset.points = String(d.points.length);
  }

  function fillSymbolChoices() {
    for (const select of [$("#trail-symbol"), $("#eq-op-symbol")]) {
      const have = [...select.options].map((o) => o.value).filter((v) => v);
      if (have.join() === symbols.join()) continue;
      const current = select.value;
      const keep = select.id === "eq-op-symbol" ? [el("option", { value: "" }, "every symbol")] : [];
      select.replaceChildren(...keep, ...symbols.map((s) => el("option", { value: s }, s)));
      if (symbols.includes(current)) select.value = current;
    }
    if (chosen === null && symbols.length) {
      chosen = symbols[0]; // its trail loads with the rest
      $("#trail-symbol").value = chosen;
    }
  }

  function choose(symbol) {
    chosen = symbol;
    $("#trail-symbol").value = symbol;
    for (const row of document.querySelectorAll("#positions tbody tr")) {
      row.classList.toggle("selected", row.dataset.id === symbol);
    }
    loadTrail().catch(console.error);
  }

  async function loadTrail() {
    if (!chosen) return;
    const symbol = chosen;
    const d = await api(`/api/v1/equities/${encodeURIComponent(symbol)}/fills?limit=100`);
    if (symbol !== chosen) return; // another symbol was chosen meanwhile
    const rows = [];
    for (const f of d.fills) {
      rows.push({
        _id: f.fill_id,
        _class: `fill${f.reverted ? " reverted" : ""}`,
        when: f.block_time_ms,
        what: `${f.side} onchain${f.reverted ? " (reverted)" : ""}`,
        ref: el("span", { class: "mono", title: f.fill_id }, `${fmt.short(f.tx_hash)}:${f.log_index} · block ${f.block_number}`),
        shares: shares(f.shares),
        price: fmt.number(f.price_usd, 2, 6),
        captured: "",
      });
      for (const c of f.covers) {
        rows.push({
          _id: `${c.client_order_id}/${c.broker_fill_id}`,
          _class: "cover",
          when: c.ts_ms,
          what: `└ broker ${c.side}`,
          ref: el("a", { href: `/orders/${encodeURIComponent(c.client_order_id)}`, class: "mono" }, `${c.client_order_id}/${c.broker_fill_id}`),
          shares: `${shares(c.shares)} of ${shares(c.fill_quantity)}`,
          price: fmt.number(c.price_usd, 2, 6),
          captured: usd(c.captured_usd),
        });
      }
      if (Number(f.uncovered_shares) !== 0) {
        rows.push({ _id: `${f.fill_id}/open`, _class: "open", when: null, what: "└ not covered yet", ref: "", shares: shares(f.uncovered_shares), price: "", captured: "" });
      }
    }
    PK.replace($("#trail"), table(
      [
        { label: "time", value: (r) => (r.when ? fmt.time(r.when) : ""), cls: () => "col-time" },
        { label: "what", value: (r) => r.what, cls: () => "col-what" },
        { label: "fill", value: (r) => r.ref, cls: () => "col-ref" },
        { label: "shares", num: true, value: (r) => r.shares, cls: () => "col-shares" },
        { label: "price USD", num: true, value: (r) => r.price, cls: () => "col-price" },
        { label: "spread captured", num: true, value: (r) => r.captured, cls: () => "col-captured" },
      ],
      rows,
      `no onchain fill of ${symbol} yet`,
    ));
    $("#trail").dataset.symbol = symbol;
  }

  // ---- operator: pause and resume, with the dealer's tokens and audit trail ------------------
  function setOperatorMode(enabled) {
    $("#eq-op-mode").textContent = enabled
      ? "Pausing and resuming need an operator token from the configuration; it is kept in this tab only. Each action is written to the audit trail."
      : "Read-only: no operator tokens are configured (PEGKEEPER_WEB__OPERATOR_TOKENS) or no equity hedger runs here, so every action is refused.";
  }

  function showResult(text, good) {
    const box = $("#eq-op-result");
    box.textContent = text;
    box.className = good ? "good" : "bad";
  }

  async function act(path) {
    const note = $("#eq-note").value.trim();
    const symbol = $("#eq-op-symbol").value || undefined;
    const { status, data } = await operator.call(path, { symbol, note: note || undefined });
    if (data.action) {
      showResult(`${data.action} by ${data.operator}: ${data.result}, ${data.detail}`, data.result !== "failed");
      $("#eq-note").value = "";
    } else {
      showResult(`refused (${status}): ${data.error || JSON.stringify(data)}`, false);
    }
    refresh();
  }

  async function showWho() {
    const who = await operator.whoami();
    const label = $("#eq-who");
    if (!who) label.textContent = "no token entered";
    else if (who.status === 200) label.textContent = `acting as ${who.data.operator}`;
    else label.textContent = `token refused (${who.status})`;
  }

  function wire() {
    $("#trail-symbol").addEventListener("change", (event) => choose(event.target.value));
    $("#positions").addEventListener("click", (event) => {
      const row = event.target.closest("tbody tr");
      if (row && row.dataset.id) choose(row.dataset.id);
    });
    $("#eq-token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      operator.remember($("#eq-token").value.trim());
      $("#eq-token").value = "";
      showWho();
    });
    $("#eq-pause").addEventListener("click", () => act("/api/v1/equities/pause"));
    $("#eq-resume").addEventListener("click", () => act("/api/v1/equities/resume"));
    showWho();
  }

  async function loadAll() {
    if (await load()) {
      await loadPnl();
      await loadTrail();
    }
  }
  const refresh = throttle(() => loadAll().catch(console.error), 1000);
  on("operator", refresh);
  on("resync", refresh);
  let beats = 0;
  on("heartbeat", () => {
    if (++beats % 5 === 0) refresh();
  });
  document.addEventListener("DOMContentLoaded", () => {
    wire();
    refresh();
  });
})();
