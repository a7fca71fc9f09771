// Quotes: live prices from the price service (the numbers of its gRPC rpcs), recent quotes with
// their state.
"use strict";

(() => {
  const { fmt, $, setField, table, api, on, throttle } = PK;

  async function price(direction, amount) {
    try {
      return await api(`/api/v1/quote?direction=${direction}&${amount}`);
    } catch (error) {
      return { error: error.message };
    }
  }

  async function loadPrices() {
    const [buySats, sellSats, buyCents, sellCents] = await Promise.all([
      price("buy", "sats=100000"),
      price("sell", "sats=100000"),
      price("buy", "cents=100000"),
      price("sell", "cents=100000"),
    ]);
    const cents = (q) => (q.error ? "no book" : fmt.usdCents(q.amount_in_cents));
    const sats = (q) => (q.error ? "no book" : `${fmt.number(q.amount_in_satoshis)} sats`);
    setField("buy-sats", cents(buySats), buySats.amount_in_cents);
    setField("sell-sats", cents(sellSats), sellSats.amount_in_cents);
    setField("buy-cents", sats(buyCents), buyCents.amount_in_satoshis);
    setField("sell-cents", sats(sellCents), sellCents.amount_in_satoshis);
    if (buySats.error) {
      setField("mid", "–");
      setField("book", buySats.error);
    } else {
      setField("mid", `${fmt.number(buySats.mid_rate_cents_per_sat, 6)} ¢/sat`, buySats.mid_rate_cents_per_sat);
      setField("book", `${buySats.book_source}, ${fmt.time(buySats.book_ts_ms)}`);
    }
  }

  async function loadQuotes() {
    const d = await api("/api/v1/quotes?limit=100");
    PK.replace($("#quotes"), table([
      { label: "created", value: (q) => fmt.time(q.created_at_ms) },
      { label: "quote id", value: (q) => q.quote_id, cls: () => "mono" },
      { label: "user", value: (q) => (q.direction === "buy" ? "buys USD" : "sells USD") },
      { label: "sats", num: true, value: (q) => fmt.number(q.amount_sats) },
      { label: "USD", num: true, value: (q) => fmt.usdCents(q.amount_cents) },
      { label: "fee", num: true, value: (q) => `${fmt.number(Number(q.fee_cents) / 100, 2, 4)} USD` },
      { label: "state", value: (q) => q.state, cls: (q) => (q.state === "accepted" ? "good-text" : "") },
      { label: "expires", value: (q) => fmt.time(q.expires_at_ms) },
    ], d.quotes, "no quote yet"));
  }

  const refreshQuotes = throttle(() => loadQuotes().catch(console.error), 500);
  let beats = 0;
  on("heartbeat", () => {
    if (++beats % 3 === 0) loadPrices().catch(console.error);
  });
  on("liability", refreshQuotes);
  on("resync", () => {
    loadPrices().catch(console.error);
    refreshQuotes();
  });
  document.addEventListener("DOMContentLoaded", () => {
    loadPrices().catch(console.error);
    refreshQuotes();
  });
})();
