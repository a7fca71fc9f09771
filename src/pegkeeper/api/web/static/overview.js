// Overview: the book (liability, hedge, ratio against its brackets), risk (leverage,
// liquidation, collateral, funding), their history, the last decision, health (the cluster's
// processes and leases too), operator actions.
"use strict";

(() => {
  const { fmt, el, $, setField, table, api, on, throttle, chart, operator } = PK;
  const brackets = PK.config.brackets;
  let bookChart = null;
  let riskChart = null;

  function ratioClass(ratio, liabilityCents) {
    if (ratio === null || liabilityCents < PK.config.minimum_liability_cents) return "";
    const r = Number(ratio);
    if (r < Number(brackets.low) || r > Number(brackets.high)) return "bad";
    if (r < Number(brackets.low_safe) || r > Number(brackets.high_safe)) return "warn";
    return "good";
  }

  function renderBracket(ratio) {
    const lo = 0.9;
    const hi = 1.1;
    const at = (value) => `${((Math.min(Math.max(Number(value), lo), hi) - lo) / (hi - lo)) * 100}%`;
    const span = (from, to, cls) =>
      el("div", { class: `zone ${cls}`, style: `left:${at(from)};width:calc(${at(to)} - ${at(from)})` });
    const bar = $("#bracket");
    const zones = [span(brackets.low, brackets.high, "act"), span(brackets.low_safe, brackets.high_safe, "safe")];
    if (ratio !== null) zones.push(el("div", { class: "marker", style: `left:${at(ratio)}`, title: ratio }));
    bar.replaceChildren(...zones);
    $("#bracket-scale").replaceChildren(
      ...[lo, brackets.low, brackets.low_safe, brackets.high_safe, brackets.high, hi].map((v) =>
        el("span", {}, fmt.number(v, 2)),
      ),
    );
  }

  // Colours from the configured policy: leverage red outside the funding policy's bounds (where
  // it acts), the liquidation distance red under the alert floor.
  function leverageClass(leverage) {
    if (leverage === null) return "";
    const x = Number(leverage);
    const bounds = PK.config.leverage_bounds;
    return x < Number(bounds.low) || x > Number(bounds.high) ? "bad" : "good";
  }

  function distanceClass(pct) {
    if (pct === null) return "";
    return Number(pct) < Number(PK.config.liquidation_floor_pct) ? "bad" : "good";
  }

  const SOURCES = { funding: "the funding manager's reading", hedger: "the hedger's snapshot" };

  // The freshest reading of the account, rounded by the server: shown as given.
  function renderRisk(risk) {
    const r = risk || { leverage: null, liquidation_distance_pct: null, liquidation_price_usd: null };
    setField("leverage", r.leverage === null ? "–" : `${fmt.number(r.leverage, 2)} ×`, r.leverage);
    $("#card-leverage").className = `card ${leverageClass(r.leverage)}`;
    setField("risk-as-of", risk ? `as of ${fmt.time(risk.as_of_ms)}, ${SOURCES[risk.source] || risk.source}` : "no reading yet");
    const pct = r.liquidation_distance_pct;
    setField("liquidation-distance", pct === null ? "–" : `${fmt.number(pct, 2)} % away`, pct);
    setField("liquidation-price", r.liquidation_price_usd ? `at ${fmt.usd(r.liquidation_price_usd)} (${r.liquidation_source})` : "no liquidation price");
    $("#card-liquidation").className = `card ${distanceClass(pct)}`;
  }

  async function loadBook() {
    const d = await api("/api/v1/overview");
    const exposure = d.exposure_cents;
    setField("liability", fmt.usdCents(d.liability_cents), d.liability_cents);
    setField("hedge", fmt.usdCents(-exposure), -exposure);
    setField("position", `${fmt.contracts(d.position_contracts)} ${Number(d.position_contracts) < 0 ? "short" : ""}`, d.position_contracts);
    setField("hedge-ratio", d.hedge_ratio === null ? "no liability" : fmt.ratio(d.hedge_ratio), d.hedge_ratio);
    $("#card-ratio").className = `card ${ratioClass(d.hedge_ratio, d.liability_cents)}`;
    const small = d.liability_cents > 0 && d.liability_cents < PK.config.minimum_liability_cents;
    setField("ratio-note", small ? `below the ${fmt.usdCents(PK.config.minimum_liability_cents)} threshold: no hedge` : "");
    renderBracket(d.hedge_ratio);
    setField("btc-price", fmt.usd(d.btc_price_usd), d.btc_price_usd);
    setField("instrument", d.instrument_id || PK.config.instrument_id);
    renderRisk(d.risk);
    setField("collateral", fmt.btc(d.collateral_btc), d.collateral_btc);
    const price = Number(d.btc_price_usd || 0);
    setField("collateral-detail", d.collateral_btc === null ? "" : `≈ ${fmt.usd(Number(d.collateral_btc) * price)} · available ${fmt.btc(d.collateral_available_btc)}`);
    setField("funding", fmt.btc(d.funding_btc), d.funding_btc);
    setField("funding-usd", d.funding_btc === null ? "" : `≈ ${fmt.usd(Number(d.funding_btc) * price)}`);
    $("#as-of").textContent = d.as_of_ms ? `position as of ${fmt.time(d.as_of_ms)}` : "no position snapshot yet";
    renderDecision(d.last_decision);
  }

  function renderDecision(decision) {
    const box = $("#last-decision");
    if (!decision) {
      box.className = "empty";
      box.textContent = "none yet";
      return;
    }
    box.className = "";
    box.replaceChildren(
      el("dl", { class: "kv" },
        el("dt", {}, "when"), el("dd", {}, fmt.time(decision.created_at_ms)),
        el("dt", {}, "action"), el("dd", { "data-field": "decision-action" }, `${decision.action} ${decision.action === "hold" ? "" : fmt.contracts(decision.size_contracts)}`),
        el("dt", {}, "why"), el("dd", {}, `${decision.rule} (trigger: ${decision.trigger})`),
        el("dt", {}, "inputs"), el("dd", {}, `liability ${fmt.usdCents(decision.liability_cents)}, hedge ${fmt.usdCents(-decision.exposure_cents)}, ratio ${fmt.ratio(decision.hedge_ratio)}, BTC ${fmt.usd(decision.btc_price_usd)}`),
        el("dt", {}, "trail"), el("dd", {}, el("a", { href: `/audit/${decision.correlation_id}` }, decision.correlation_id)),
      ),
    );
  }

  async function loadLiability() {
    const d = await api("/api/v1/liability?limit=8");
    const latest = d.events[0];
    setField("liability-change", latest ? `last: ${fmt.signed(latest.delta_cents / 100, 2)} USD at ${fmt.time(latest.created_at_ms)}` : "no change yet");
    PK.replace($("#liability-events"), table(
      [
        { label: "time", value: (e) => fmt.time(e.created_at_ms) },
        { label: "change", num: true, value: (e) => `${fmt.signed(e.delta_cents / 100, 2)} USD` },
        { label: "liability after", num: true, value: (e) => fmt.usdCents(e.liability_cents) },
        { label: "memo", value: (e) => e.memo || e.source, cls: () => "memo" },
        { label: "trail", value: (e) => el("a", { href: `/audit/${e.correlation_id}` }, fmt.short(e.id)) },
      ],
      d.events.map((e) => ({ ...e, _id: e.id })),
      "no liability change yet",
    ));
  }

  async function loadHistory() {
    const windowName = $("#window").value;
    const d = await api(`/api/v1/dealer/history?window=${windowName}&max_points=600`);
    const points = d.points;
    const xs = points.map((p) => p.ts_ms / 1000);
    if (!bookChart) {
      const step = uPlot.paths.stepped({ align: 1 }); // both change in steps
      bookChart = chart($("#chart-book"), [
        { label: "liability USD", stroke: "#e0a93b", width: 2, paths: step, value: (u, v) => fmt.number(v, 2) },
        { label: "hedge notional USD", stroke: "#4c9be8", width: 2, paths: step, value: (u, v) => fmt.number(v, 2) },
      ]);
      riskChart = chart($("#chart-risk"), [
        { label: "BTC mark USD", stroke: "#dce3ea", width: 1.5, value: (u, v) => fmt.number(v, 2) },
        { label: "liquidation distance %", stroke: "#e5534b", width: 1.5, scale: "y2", value: (u, v) => fmt.number(v, 1) },
        { label: "leverage ×", stroke: "#3fb97f", width: 1.5, scale: "y3", value: (u, v) => fmt.number(v, 2) },
      ], {
        y2: { stroke: "#e5534b", values: (u, vals) => vals.map((v) => `${v} %`) },
        y3: { stroke: "#3fb97f", values: (u, vals) => vals.map((v) => `${v}×`) },
        scales: { y2: { range: (u, min, max) => [0, Math.max(max || 0, 50)] } },
      });
    }
    bookChart.setData([xs, points.map((p) => p.liability_cents / 100), points.map((p) => -p.exposure_cents / 100)]);
    const num = (v) => (v === null ? null : Number(v));
    riskChart.setData([
      xs,
      points.map((p) => num(p.mark_price_usd)),
      points.map((p) => (p.liquidation_distance === null ? null : num(p.liquidation_distance) * 100)),
      points.map((p) => num(p.leverage)),
    ]);
  }

  function renderHealth(beat) {
    $("#services").replaceChildren(
      ...Object.entries(beat.services).map(([name, state]) =>
        el("li", { "data-service": name, "data-state": state === "ready" ? "ready" : "not-ready" },
          el("span", {}, el("span", { class: `dot ${state === "ready" ? "good" : "bad"}` }), name),
          el("span", { class: state === "ready" ? "good-text" : "bad-text" }, state),
        ),
      ),
    );
    PK.replace($("#sources"), table(
      [
        { label: "source", value: (s) => s.exchange },
        { label: "market", value: (s) => s.market },
        { label: "age", num: true, value: (s) => fmt.age(s.age_ms) },
        { label: "state", value: (s) => (s.stale ? "stale" : "fresh"), cls: (s) => (s.stale ? "bad-text" : "good-text") },
      ],
      beat.sources,
      "no price source yet",
    ));
  }

  // The cluster, on the database's clock: every process heard from lately, every lease.
  async function loadCluster() {
    const d = await api("/api/v1/cluster");
    const stale = (p) => (p.stale ? "bad-text" : "good-text");
    PK.replace($("#processes"), table(
      [
        { label: "process", value: (p) => p.name },
        { label: "host", value: (p) => `${p.host} (pid ${p.pid})` },
        { label: "services", value: (p) => p.services.join(", ") },
        { label: "last seen", num: true, value: (p) => `${fmt.age(p.seen_ago_ms)} ago` },
        { label: "state", value: (p) => (p.stale ? "stale" : "running"), cls: stale },
      ],
      d.processes.map((p) => ({ ...p, _id: p.id })),
      "no process has reported yet",
    ));
    PK.replace($("#leases"), table(
      [
        { label: "lease", value: (l) => l.name },
        { label: "holder", value: (l) => l.holder_name || l.holder, cls: (l) => (l.expired ? "bad-text" : "") },
        { label: "epoch", num: true, value: (l) => l.epoch },
        { label: "expires", num: true, value: (l) => (l.expired ? `expired ${fmt.age(-l.expires_in_ms)} ago` : `in ${fmt.number(l.expires_in_ms / 1000, 1)} s`) },
      ],
      d.leases.map((l) => ({ ...l, _id: l.name })),
      "no lease taken",
    ));
  }

  async function loadOperator() {
    const d = await api("/api/v1/operator?limit=10");
    PK.replace($("#op-actions"), table(
      [
        { label: "time", value: (a) => fmt.time(a.created_at_ms) },
        { label: "who", value: (a) => a.operator },
        { label: "action", value: (a) => a.action },
        { label: "target", value: (a) => a.target },
        { label: "result", value: (a) => a.result, cls: (a) => `result-${a.result}` },
        { label: "detail", value: (a) => a.detail + (a.note ? ` — “${a.note}”` : "") },
        { label: "trail", value: (a) => (a.action === "position.close" ? el("a", { href: `/audit/${a.correlation_id}` }, "trail") : "") },
      ],
      d.actions,
      "no operator action yet",
    ));
  }

  // Alerts with their state, each id a button that fills the acknowledge form.
  async function loadAlerts() {
    const d = await api("/api/v1/alerts?limit=20");
    PK.replace($("#alerts"), table(
      [
        { label: "time", value: (a) => fmt.time(a.created_at_ms) },
        { label: "severity", value: (a) => a.severity, cls: (a) => `severity-${a.severity}` },
        { label: "alert", value: (a) => a.title },
        {
          label: "state",
          value: (a) => (a.acknowledged_by ? `acknowledged by ${a.acknowledged_by}` : a.state),
          cls: (a) => `alert-state alert-${a.state.replace(/ /g, "-")}`,
        },
        { label: "id", value: (a) => el("button", { type: "button", class: "alert-pick mono", "data-alert-id": a.alert_id, title: "acknowledge this alert" }, a.alert_id) },
      ],
      d.alerts.map((a) => ({ ...a, _id: a.alert_id })),
      "no alert",
    ));
  }

  function showResult(text, good) {
    const box = $("#op-result");
    box.textContent = text;
    box.className = good ? "good" : "bad";
  }

  async function act(path, body) {
    const note = $("#op-note").value.trim();
    const { status, data } = await operator.call(path, { ...body, note: note || undefined });
    if (status === 401 || status === 403) {
      showResult(`refused (${status}): ${data.error}`, false);
      return;
    }
    if (data.action) {
      showResult(`${data.action} by ${data.operator}: ${data.result}, ${data.detail}`, data.result !== "failed");
      $("#op-note").value = "";
    } else {
      showResult(`error (${status}): ${data.error || JSON.stringify(data)}`, false);
    }
    refreshAll();
  }

  async function showWho() {
    const who = await operator.whoami();
    const label = $("#op-who");
    if (!who) label.textContent = "no token entered";
    else if (who.status === 200) label.textContent = `acting as ${who.data.operator}`;
    else label.textContent = `token refused (${who.status})`;
  }

  function wireOperator() {
    $("#op-token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      operator.remember($("#op-token").value.trim());
      $("#op-token").value = "";
      showWho();
    });
    $("#op-forget").addEventListener("click", () => {
      operator.remember("");
      showWho();
    });
    $("#op-pause").addEventListener("click", () => act("/api/v1/operator/hedging/pause"));
    $("#op-resume").addEventListener("click", () => act("/api/v1/operator/hedging/resume"));
    $("#op-close").addEventListener("click", () => {
      if (confirm("Close the whole position at market and pause hedging?")) {
        act("/api/v1/operator/position/close", { confirm: "close-position" });
      }
    });
    $("#op-ack").addEventListener("submit", (event) => {
      event.preventDefault();
      const id = $("#op-alert-id").value.trim();
      act(`/api/v1/operator/alerts/${encodeURIComponent(id)}/acknowledge`);
    });
    $("#alerts").addEventListener("click", (event) => {
      const pick = event.target.closest(".alert-pick");
      if (!pick) return;
      $("#op-alert-id").value = pick.dataset.alertId;
      $("#op-alert-id").focus();
    });
    showWho();
  }

  const refreshBook = throttle(() => loadBook().catch(console.error), 250);
  const refreshLiability = throttle(() => loadLiability().catch(console.error), 250);
  const refreshHistory = throttle(() => loadHistory().catch(console.error), 1000);
  const refreshAlerts = throttle(() => loadAlerts().catch(console.error), 250);
  const refreshOperator = throttle(() => {
    loadOperator().catch(console.error);
    refreshAlerts();
  }, 250);
  const refreshCluster = throttle(() => loadCluster().catch(console.error), 1000);
  function refreshAll() {
    refreshCluster();
    refreshBook();
    refreshLiability();
    refreshHistory();
    refreshOperator();
  }

  on("liability", () => {
    refreshLiability();
    refreshBook();
    refreshHistory();
  });
  on("decision", refreshBook);
  on("order", () => {
    refreshBook();
    refreshHistory();
  });
  on("position", refreshBook);
  on("operator", refreshOperator);
  on("resync", refreshAll);
  let beats = 0;
  on("heartbeat", (beat) => {
    renderHealth(beat);
    if (++beats % 5 === 0) {
      refreshBook(); // snapshots taken on the venue's own schedule: keep the cards current
      refreshHistory();
      refreshAlerts();
      refreshCluster();
    }
  });

  document.addEventListener("DOMContentLoaded", () => {
    $("#window").addEventListener("change", () => loadHistory().catch(console.error));
    wireOperator();
    refreshAll();
  });
})();
