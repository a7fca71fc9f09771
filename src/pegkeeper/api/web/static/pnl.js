// P&L over time: the venue accounts' equity in BTC and in USD, the change over the window, fees.
"use strict";

(() => {
  const { fmt, $, setField, api, on, throttle, chart } = PK;
  let plot = null;

  async function load() {
    const d = await api(`/api/v1/pnl?window=${$("#window").value}&max_points=600`);
    const last = d.points[d.points.length - 1];
    setField("equity", last ? fmt.btc(last.equity) : "–", last ? last.equity : null);
    setField("equity-usd", last ? `≈ ${fmt.usd(last.equity_usd)}` : "no position snapshot yet");
    setField("change", d.change === null ? "–" : `${fmt.signed(d.change, 8, 8)} BTC`, d.change);
    setField("change-usd", d.change_usd === null ? "" : `${fmt.signed(d.change_usd, 2, 2)} USD at the mark price`);
    const fees = Object.entries(d.fees_paid);
    setField("fees", fees.length ? fees.map(([ccy, v]) => `${fmt.number(v, 8)} ${ccy}`).join(", ") : "none");
    showComponents(d);
    if (!plot) {
      plot = chart($("#chart-equity"), [
        { label: "equity BTC", stroke: "#e0a93b", width: 2, value: (u, v) => fmt.number(v, 8) },
        { label: "equity USD", stroke: "#4c9be8", width: 2, scale: "y2", value: (u, v) => fmt.number(v, 2) },
      ], { height: 280, y2: {} });
    }
    plot.setData([
      d.points.map((p) => p.ts_ms / 1000),
      d.points.map((p) => Number(p.equity)),
      d.points.map((p) => Number(p.equity_usd)),
    ]);
  }

  function showComponents(d) {
    const rows = document.querySelectorAll("#components tr[data-component]");
    for (const row of rows) {
      const c = d.components ? d.components[row.dataset.component] : null;
      row.querySelector("[data-btc]").textContent = c ? `${fmt.signed(c.btc, 8, 8)} BTC` : "–";
      row.querySelector("[data-usd]").textContent = c ? `${fmt.signed(c.usd, 2, 2)} USD` : "–";
      row.dataset.btc = c ? c.btc : "";
    }
    const r = d.reconciliation;
    setField(
      "reconciliation",
      r
        ? `Equity change, venue ${fmt.signed(r.venue_equity_change_btc, 8, 8)} BTC and wallet ` +
            `${fmt.signed(r.wallet_change_btc, 8, 8)} BTC: ${fmt.signed(r.equity_change_btc, 8, 8)} BTC ` +
            `(own transfers into the venue ${fmt.signed(d.own_transfers_btc, 8, 8)} BTC)`
        : "no position snapshot yet",
      r ? r.equity_change_btc : null,
    );
  }

  const refresh = throttle(() => load().catch(console.error), 2000);
  on("order", refresh);
  on("resync", refresh);
  let beats = 0;
  on("heartbeat", () => {
    if (++beats % 5 === 0) refresh();
  });
  document.addEventListener("DOMContentLoaded", () => {
    $("#window").addEventListener("change", () => load().catch(console.error));
    load().catch(console.error);
  });
})();
