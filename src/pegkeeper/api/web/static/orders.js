// Orders & transfers: every hedge order with the decision behind it and the liability change
// behind that, each a link to its audit trail; transfers once the funding manager records them
// (a held deposit with what to do about it);
// the inventory moves' transactions and requests, each a link to its move.
"use strict";

(() => {
  const { fmt, el, $, table, api, on, throttle } = PK;

  // The liability changes the order's decision answered (every change since the decision
  // before it) and the hedge ratio they moved it to.
  function cause(order) {
    const events = order.liability_events || [];
    const d = order.decision;
    const moved = d && d.hedge_ratio != null ? ` · ratio moved to ${fmt.ratio(d.hedge_ratio)}` : "";
    if (!events.length) return d ? `${d.trigger} check${moved}` : "–";
    const changes = events.map((e) => `${fmt.signed(e.delta_cents / 100, 2)} USD (${e.memo || e.source})`).join("; ");
    const count = events.length > 1 ? `${events.length} changes: ` : "";
    return `${count}${changes}${moved}`;
  }

  async function loadOrders() {
    const d = await api("/api/v1/dashboard/orders?limit=100");
    PK.replace($("#orders"), table([
      { label: "time", value: (o) => fmt.time(o.created_at_ms) },
      { label: "order", value: (o) => el("a", { href: `/orders/${o.client_order_id}`, class: "mono" }, o.client_order_id) },
      { label: "side", value: (o) => o.side || o.kind },
      { label: "size", num: true, value: (o) => (o.kind === "close_position" ? "all" : fmt.number(o.size_contracts, 0, 4)) },
      { label: "state", value: (o) => o.state, cls: (o) => `state-${o.state}` },
      { label: "filled", num: true, value: (o) => fmt.number(o.filled_contracts, 0, 4) },
      { label: "avg price", num: true, value: (o) => (o.avg_price_usd ? fmt.usd(o.avg_price_usd) : "–") },
      { label: "decision", value: (o) => (o.decision ? `${o.decision.rule} · ratio ${fmt.ratio(o.decision.hedge_ratio)}` : "–") },
      { label: "caused by", value: cause },
      { label: "fills", num: true, value: (o) => o.fills.length },
      { label: "trail", value: (o) => el("a", { href: `/audit/${o.correlation_id}`, class: "order-trail" }, "trail") },
    ], d.orders.map((o) => ({ ...o, _id: o.client_order_id })), "no hedge order yet"));
  }

  // a held deposit says what the operator does about it
  function state(t) {
    if (!t.action_needed) return t.state;
    return el("span", {}, t.state, el("div", { class: "action-needed" }, t.action_needed));
  }

  async function loadTransfers() {
    const d = await api("/api/v1/transfers?limit=100");
    if (!d.available) {
      PK.replace($("#transfers"), el("div", { class: "empty", id: "transfers-unavailable" },
        "No transfer records in this installation: transfers appear here once the funding manager runs."));
      return;
    }
    PK.replace($("#transfers"), table([
      { label: "time", value: (t) => fmt.time(t.created_at_ms) },
      { label: "kind", value: (t) => t.kind },
      { label: "amount", num: true, value: (t) => `${t.amount} ${t.currency || ""}` },
      { label: "from → to", value: (t) => `${t.from || "–"} → ${t.to || "–"}` },
      { label: "state", value: state, cls: (t) => `state-${t.state}` },
      { label: "trail", value: (t) => (t.correlation_id ? el("a", { href: `/audit/${t.correlation_id}` }, "trail") : "") },
    ], d.transfers.map((t) => ({ ...t, _id: t.operation_id })), "no transfer yet"));
  }

  async function loadMoveTransfers() {
    const d = await api("/api/v1/equities/rebalancing/transfers?limit=50");
    if (!d.available) {
      PK.replace($("#move-transfers"), el("div", { class: "empty", id: "move-transfers-unavailable" },
        "No inventory rebalancing in this installation: its moves appear here once it runs."));
      return;
    }
    const amount = (v, unit) => (v === null ? "–" : `${fmt.number(v, 0, 9)} ${unit}`);
    PK.replace($("#move-transfers"), table([
      { label: "time", value: (t) => fmt.time(t.updated_at_ms) },
      { label: "move", value: (t) => el("a", { href: `/equities/rebalancing?move=${encodeURIComponent(t.move_id)}`, class: "mono" }, t.move_id) },
      { label: "kind", value: (t) => `${t.kind.replace(/_/g, " ")} ${t.asset}` },
      { label: "step", value: (t) => t.step, cls: () => "col-step" },
      { label: "state", value: (t) => t.status, cls: (t) => `state-${t.status}` },
      { label: "transaction", value: (t) => el("span", { class: "mono col-tx", title: t.tx_hash || "" }, t.tx_hash ? fmt.short(t.tx_hash) : "–") },
      { label: "request", value: (t) => el("span", { class: "mono" }, t.request_id || "–") },
      { label: "asked", num: true, value: (t) => amount(t.amount_asked, t.unit) },
      { label: "received", num: true, value: (t) => amount(t.amount_received, t.unit) },
    ], d.transfers.map((t) => ({ ...t, _id: `${t.move_id}/${t.step}` })), "no move yet"));
  }

  const refresh = throttle(() => loadOrders().catch(console.error), 300);
  on("order", refresh);
  on("decision", refresh);
  const loadOthers = () => {
    loadTransfers().catch(console.error);
    loadMoveTransfers().catch(console.error);
  };
  on("resync", () => {
    refresh();
    loadOthers();
  });
  document.addEventListener("DOMContentLoaded", () => {
    refresh();
    loadOthers();
  });
})();
