// The audit trail of one correlation id (or of the order named in the address): every record
// from the user's trade to the hedge that covered it, in time order.
"use strict";

(() => {
  const { fmt, el, $, table, api, on, throttle } = PK;
  let correlationId = PK.config.correlation_id;

  function timeline(t) {
    const rows = [];
    for (const e of t.liability_events) {
      rows.push({ ts: e.created_at_ms, kind: "liability", text: `${fmt.signed(e.delta_cents / 100, 2)} USD (${e.memo || e.source}), liability ${fmt.usdCents(e.liability_cents)}` });
    }
    for (const d of t.decisions) {
      rows.push({ ts: d.created_at_ms, kind: "decision", text: `${d.action} ${d.action === "hold" ? "" : fmt.contracts(d.size_contracts)} — ${d.rule} (ratio ${fmt.ratio(d.hedge_ratio)})` });
    }
    for (const o of t.orders) {
      for (const s of o.states) {
        rows.push({ ts: s.ts_ms, kind: "order", text: `${o.client_order_id} ${s.state}${s.filled_contracts !== "0" ? `, filled ${fmt.number(s.filled_contracts, 0, 4)}` : ""}${s.message ? ` — ${s.message}` : ""}`, cls: `state-${s.state}` });
      }
    }
    for (const f of t.fills) {
      rows.push({ ts: f.ts_ms, kind: "fill", text: `${fmt.number(f.size_contracts, 0, 4)} contracts at ${fmt.usd(f.price_usd)}, fee ${f.fee} ${f.fee_currency}` });
    }
    for (const p of t.positions) {
      rows.push({ ts: p.ts_ms, kind: "position", text: `${fmt.contracts(p.size_contracts)}, hedge ${fmt.usdCents(-p.exposure_cents)}, leverage ${fmt.number(p.leverage, 2)} ×` });
    }
    for (const a of t.operator_actions) {
      rows.push({ ts: a.created_at_ms, kind: "operator", text: `${a.operator}: ${a.action} ${a.result} — ${a.detail}` });
    }
    rows.sort((a, b) => a.ts - b.ts);
    return table([
      { label: "time", value: (r) => fmt.time(r.ts) },
      { label: "record", value: (r) => r.kind },
      { label: "what", value: (r) => r.text, cls: (r) => r.cls || "" },
    ], rows.map((r) => ({ ...r, _class: `kind-${r.kind}` })), "nothing recorded");
  }

  function render(t) {
    $("#correlation-id").textContent = t.correlation_id;
    PK.replace($("#timeline"), timeline(t));
    PK.replace($("#liability"), table([
      { label: "event id", value: (e) => e.id },
      { label: "change", num: true, value: (e) => `${fmt.signed(e.delta_cents / 100, 2)} USD` },
      { label: "liability after", num: true, value: (e) => fmt.usdCents(e.liability_cents) },
      { label: "memo", value: (e) => e.memo },
      { label: "source", value: (e) => e.source },
    ], t.liability_events, "no liability change under this id (a periodic or operator decision)"));
    PK.replace($("#decisions"), table([
      { label: "time", value: (d) => fmt.time(d.created_at_ms) },
      { label: "trigger", value: (d) => d.trigger },
      { label: "rule", value: (d) => d.rule },
      { label: "action", value: (d) => `${d.action} ${d.action === "hold" ? "" : d.size_contracts}` },
      { label: "liability", num: true, value: (d) => fmt.usdCents(d.liability_cents) },
      { label: "hedge", num: true, value: (d) => fmt.usdCents(-d.exposure_cents) },
      { label: "ratio", num: true, value: (d) => fmt.ratio(d.hedge_ratio) },
      { label: "BTC", num: true, value: (d) => fmt.usd(d.btc_price_usd) },
    ], t.decisions, "no decision"));
    const wanted = PK.config.order_id;
    PK.replace($("#orders"), table([
      { label: "order", value: (o) => el("span", { class: "mono" }, o.client_order_id) },
      { label: "kind", value: (o) => (o.side ? `${o.kind} ${o.side}` : o.kind) },
      { label: "size", num: true, value: (o) => (o.kind === "close_position" ? "all" : o.size_contracts) },
      { label: "state", value: (o) => o.state, cls: (o) => `state-${o.state}` },
      { label: "history", value: (o) => o.states.map((s) => `${s.state} ${fmt.clock(s.ts_ms)}`).join(" → ") },
    ], t.orders.map((o) => ({ ...o, _class: o.client_order_id === wanted ? "highlight" : "" })), "no order"));
    PK.replace($("#fills"), table([
      { label: "fill", value: (f) => f.fill_id },
      { label: "size", num: true, value: (f) => f.size_contracts },
      { label: "price", num: true, value: (f) => fmt.usd(f.price_usd) },
      { label: "fee", num: true, value: (f) => `${f.fee} ${f.fee_currency}` },
      { label: "time", value: (f) => fmt.time(f.ts_ms) },
    ], t.fills, "no fill"));
    PK.replace($("#positions"), table([
      { label: "time", value: (p) => fmt.time(p.ts_ms) },
      { label: "position", num: true, value: (p) => fmt.contracts(p.size_contracts) },
      { label: "mark", num: true, value: (p) => fmt.usd(p.mark_price_usd) },
      { label: "liquidation", num: true, value: (p) => fmt.usd(p.liquidation_price_usd) },
      { label: "collateral", num: true, value: (p) => p.collateral },
    ], t.positions, "no snapshot"));
    PK.replace($("#operator-actions"), table([
      { label: "time", value: (a) => fmt.time(a.created_at_ms) },
      { label: "who", value: (a) => a.operator },
      { label: "action", value: (a) => a.action },
      { label: "result", value: (a) => a.result, cls: (a) => `result-${a.result}` },
      { label: "detail", value: (a) => a.detail },
    ], t.operator_actions, "no operator action"));
  }

  async function load() {
    try {
      if (!correlationId && PK.config.order_id) {
        const order = await api(`/api/v1/orders/${PK.config.order_id}`);
        correlationId = order.correlation_id;
      }
      render(await api(`/api/v1/audit/${correlationId}`));
    } catch (error) {
      PK.replace($("#timeline"), el("div", { class: "empty bad-text" }, `cannot load the trail: ${error.message}`));
    }
  }

  const refresh = throttle(load, 500);
  for (const name of ["liability", "decision", "order", "operator"]) {
    on(name, (event) => {
      if (event.correlation_id === correlationId) refresh();
    });
  }
  on("resync", refresh);
  document.addEventListener("DOMContentLoaded", load);
})();
