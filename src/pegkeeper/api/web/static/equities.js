// Equities: per symbol the onchain net position, what is hedged and pending at the broker,
// P&L and fills with their broker orders; a placeholder until the equity hedger runs.
"use strict";

(() => {
  const { fmt, el, $, table, api, on } = PK;

  async function load() {
    const d = await api("/api/v1/equities");
    if (!d.configured) {
      PK.replace($("#equities"), el("div", { class: "empty", id: "equities-none" },
        "No equities are configured: the tokenized-equity hedger is not part of this installation. ",
        "Once it runs, each symbol shows here with its onchain net position, what is hedged and pending at the broker, its P&L, and its fills with their broker orders."));
      return;
    }
    PK.replace($("#equities"), table([
      { label: "symbol", value: (s) => s.symbol },
      { label: "onchain net", num: true, value: (s) => fmt.number(s.onchain_net, 0, 6) },
      { label: "hedged", num: true, value: (s) => fmt.number(s.hedged, 0, 6) },
      { label: "pending", num: true, value: (s) => fmt.number(s.pending, 0, 6) },
      { label: "P&L", num: true, value: (s) => fmt.usd(s.pnl_usd) },
    ], d.symbols, "no symbol"));
  }

  on("resync", () => load().catch(console.error));
  document.addEventListener("DOMContentLoaded", () => load().catch(console.error));
})();
