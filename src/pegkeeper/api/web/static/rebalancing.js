// Rebalancing: each asset's inventory on both sides against its target band, the proposals
// with the operator's Approve and Dismiss, the moves in flight and halted, one move in detail,
// the execution switches and the history of moves with their costs.
"use strict";

(() => {
  const { fmt, el, $, table, api, on, throttle, operator } = PK;
  let operatorActions = false;
  let before = null; // the history page shown: moves created before this (null: the newest)
  let nextBefore = null;
  let chosen = new URLSearchParams(location.search).get("move"); // the move shown in detail

  const amount = (v, unit) => (v === null || v === undefined ? "–" : `${fmt.number(v, 0, 9)} ${unit}`);
  const share = (v) => (v === null || v === undefined ? "–" : fmt.number(v, 2, 4));
  const usd = (v) => (v === null || v === undefined ? "–" : `${fmt.number(v, 2, 6)} USD`);
  const pct = (v) => `${Math.round(Math.min(Math.max(Number(v), 0), 1) * 10000) / 100}%`; // of the bar

  function notConfigured() {
    PK.replace($("#rebalancing"), el("div", { class: "empty", id: "rebalancing-none" },
      "Inventory rebalancing is not configured in this installation. Once it runs, each asset shows here on both sides with its target band, with the proposals and moves that keep it there."));
    $("#rebalancing").classList.remove("hidden");
    $("#rebalancing-live").classList.add("hidden");
  }

  async function load() {
    const query = `history_limit=20${before === null ? "" : `&before_ms=${before}`}`;
    const d = await api(`/api/v1/equities/rebalancing?${query}`);
    if (!d.configured) return notConfigured();
    $("#rebalancing").classList.add("hidden");
    $("#rebalancing-live").classList.remove("hidden");
    $("#rb-as-of").textContent = `as of ${fmt.time(d.now_ms)}`;
    operatorActions = d.operator_actions;
    setOperatorMode();
    renderInventory(d.inventory);
    renderProposals(d.proposals);
    renderMoves([...d.moves.active, ...d.moves.stuck]);
    renderSwitches(d.switches);
    renderHistory(d.history);
    if (chosen) await loadMove();
  }

  // ---- inventory: a bar per asset, 0 to 1, the band green, the onchain share a marker ---------
  function bar(a) {
    const zone = el("div", { class: "zone band", style: `left:${pct(a.band_low)};width:${pct(Number(a.band_high) - Number(a.band_low))}` });
    const target = el("div", { class: "target", style: `left:${pct(a.target)}`, title: `target ${a.target}` });
    const marker = a.onchain_share === null ? null
      : el("div", { class: "marker", style: `left:${pct(a.onchain_share)}`, title: `onchain share ${a.onchain_share}`, "data-share": a.onchain_share });
    return el("div", { class: "band-bar" }, zone, target, marker);
  }

  function renderInventory(assets) {
    if (!assets.length) {
      PK.replace($("#inventory"), el("div", { class: "empty" }, "no inventory read yet: the rebalancer has not taken a snapshot"));
      return;
    }
    const rows = assets.map((a) => {
      const state = a.outside_band === null ? "nothing held" : a.outside_band ? "outside the band" : "inside the band";
      const field = (name, text) => el("span", { class: `inv-${name}` }, text);
      return el("div", { class: `inv-row ${a.outside_band ? "outside" : "inside"}`, "data-asset": a.asset },
        el("div", { class: "inv-asset" }, a.asset, el("span", { class: "unit" }, a.unit)),
        el("div", { class: "inv-bar" }, bar(a), el("div", { class: "bracket-scale" }, el("span", {}, "0"), el("span", {}, "onchain share"), el("span", {}, "1"))),
        el("div", { class: "inv-numbers mono" },
          el("div", {}, "onchain ", field("onchain", amount(a.onchain, a.unit)), " · broker ", field("broker", amount(a.broker, a.unit)), " · in flight ", field("in-flight", amount(a.in_flight, a.unit))),
          el("div", {}, "share ", field("share", share(a.onchain_share)), " · band ", field("band", `${share(a.band_low)}–${share(a.band_high)}`), " · ", field("state", state)),
          el("div", { class: "muted" }, `block ${a.block_number} · read ${fmt.time(a.read_at_ms)}`)));
    });
    $("#inventory").replaceChildren(...rows);
  }

  // ---- proposals, with Approve and Dismiss for an operator ----------------------------------
  function decisionButtons(p) {
    if (!operatorActions) return "–";
    const buttons = [];
    if (p.status === "proposed") buttons.push(el("button", { type: "button", class: "approve", onclick: () => decide(p.proposal_id, "approve") }, "Approve"));
    buttons.push(el("button", { type: "button", class: "dismiss danger", onclick: () => decide(p.proposal_id, "dismiss") }, "Dismiss"));
    return el("span", { class: "buttons" }, buttons);
  }

  function renderProposals(proposals) {
    PK.replace($("#proposals"), table([
      { label: "proposal", value: (p) => el("span", { class: "mono" }, p.proposal_id) },
      { label: "move", value: (p) => `${p.kind.replace(/_/g, " ")} ${p.asset}`, cls: () => "col-move" },
      { label: "amount", num: true, value: (p) => amount(p.amount, p.unit), cls: () => "col-amount" },
      { label: "why", value: (p) => p.reason + (p.unblocks.length ? ` (unblocks ${p.unblocks.join("; ")})` : ""), cls: () => "col-reason" },
      { label: "status", value: (p) => p.status + (p.decided_by ? ` by ${p.decided_by}` : ""), cls: (p) => `col-status state-${p.status}` },
      { label: "created", value: (p) => fmt.time(p.created_at_ms) },
      { label: "", value: decisionButtons, cls: () => "col-actions" },
    ], proposals.map((p) => ({ ...p, _id: p.proposal_id })), "no open proposal: every asset is inside its band, or a move is in flight"));
  }

  // ---- moves ----------------------------------------------------------------------------------
  function stepText(m) {
    if (!m.waiting_for) return m.step;
    const due = m.overdue ? "overdue since" : "due by";
    return `${m.step} → ${m.waiting_for} (${due} ${fmt.clock(m.deadline_ms)})`;
  }

  function moveRows(moves) {
    const rows = [];
    for (const m of moves) {
      rows.push({ ...m, _id: m.move_id, _class: [m.halt ? "halted" : "", m.move_id === chosen ? "selected" : ""].join(" ").trim() });
      if (m.halt) rows.push({ _id: `${m.move_id}/halt`, _class: "halt-text", halt_row: m });
    }
    return rows;
  }

  function moveColumns(history) {
    const cell = (fn) => (r) => (r.halt_row ? "" : fn(r));
    return [
      { label: "move", value: (r) => (r.halt_row ? haltText(r.halt_row) : el("a", { href: `?move=${encodeURIComponent(r.move_id)}`, class: "mono move-link", onclick: (e) => choose(e, r.move_id) }, r.move_id)), cls: () => "col-move" },
      { label: "kind", value: cell((m) => `${m.kind.replace(/_/g, " ")} ${m.asset}`) },
      { label: "amount", num: true, value: cell((m) => amount(m.amount, m.unit)) },
      { label: history ? "step" : "step → waiting for", value: cell(stepText), cls: (r) => (r.overdue ? "col-step bad-text" : "col-step") },
      { label: "status", value: cell((m) => m.status + (m.halt ? ` (${m.halt})` : "")), cls: (r) => `col-status state-${r.status || ""}` },
      { label: "costs", num: true, value: cell((m) => usd(m.cost_usd)) },
      { label: "since", value: cell((m) => fmt.time(m.created_at_ms)) },
    ];
  }

  function haltText(m) {
    return el("div", { class: "halt" },
      el("strong", {}, `${m.halt.replace(/_/g, " ")}: `), m.halt_what, m.error ? ` (${m.error})` : "", ". ",
      el("span", { class: "halt-action" }, `To do: ${m.halt_action}`));
  }

  // A halted move's text spans the whole row under it.
  function spanHalts(container) {
    for (const row of container.querySelectorAll("tr.halt-text")) {
      const [first, ...rest] = row.children;
      rest.forEach((cell) => cell.remove());
      first.colSpan = row.closest("table").querySelectorAll("thead th").length;
    }
  }

  function renderMoves(moves) {
    PK.replace($("#moves"), table(moveColumns(false), moveRows(moves), "no move in flight"));
    spanHalts($("#moves"));
  }

  function renderHistory(history) {
    nextBefore = history.next_before_ms;
    PK.replace($("#history"), table(moveColumns(true), moveRows(history.moves), "no move yet"));
    spanHalts($("#history"));
    $("#history-older").classList.toggle("hidden", nextBefore === null);
    $("#history-newer").classList.toggle("hidden", before === null);
  }

  function choose(event, moveId) {
    event.preventDefault();
    chosen = moveId;
    window.history.replaceState(null, "", `?move=${encodeURIComponent(moveId)}`);
    for (const row of document.querySelectorAll("#moves tbody tr, #history tbody tr")) {
      row.classList.toggle("selected", row.dataset.id === moveId);
    }
    loadMove().catch(console.error);
  }

  async function loadMove() {
    const moveId = chosen;
    $("#move-id").textContent = moveId;
    let m;
    try {
      m = await api(`/api/v1/equities/rebalancing/moves/${encodeURIComponent(moveId)}`);
    } catch (error) {
      PK.replace($("#move-detail"), el("div", { class: "empty bad-text" }, `cannot load move ${moveId}: ${error.message}`));
      return;
    }
    if (moveId !== chosen) return;
    const steps = table([
      { label: "step", value: (s) => s.step },
      { label: "state", value: (s) => s.status, cls: (s) => `state-${s.status}` },
      { label: "request", value: (s) => el("span", { class: "mono" }, s.request_id || "–") },
      { label: "transaction", value: (s) => el("span", { class: "mono", title: s.replaced_tx_hashes.length ? `replaced: ${s.replaced_tx_hashes.join(", ")}` : "" }, s.tx_hash || "–") },
      { label: "asked", num: true, value: (s) => amount(s.amount_asked, m.unit) },
      { label: "received", num: true, value: (s) => amount(s.amount_received, m.unit) },
      { label: "time", value: (s) => fmt.time(s.updated_at_ms) },
    ], m.steps.map((s) => ({ ...s, _id: s.step })), "no step yet");
    const events = table([
      { label: "time", value: (e) => fmt.time(e.created_at_ms) },
      { label: "step", value: (e) => e.step },
      { label: "status", value: (e) => e.status },
      { label: "what", value: (e) => e.message },
    ], m.events, "no change recorded");
    const costs = table([
      { label: "step", value: (c) => c.step },
      { label: "kind", value: (c) => c.kind },
      { label: "USD", num: true, value: (c) => usd(c.amount_usd) },
    ], m.costs, "no cost recorded");
    const decisions = table([
      { label: "time", value: (a) => fmt.time(a.created_at_ms) },
      { label: "who", value: (a) => a.operator },
      { label: "action", value: (a) => a.action },
      { label: "result", value: (a) => a.result, cls: (a) => `result-${a.result}` },
    ], m.decisions, m.proposal_id ? "no operator decision recorded" : "no proposal: opened by the rebalancer");
    const head = el("p", { class: m.halt ? "bad-text" : "muted" }, `${m.kind.replace(/_/g, " ")} ${amount(m.amount, m.unit)} ${m.asset}: ${m.status} at ${stepText(m)}`, m.halt ? ` — ${m.halt_what}. To do: ${m.halt_action}` : "");
    $("#move-detail").replaceChildren(head, el("h3", {}, "Steps"), steps, el("h3", {}, "Changes"), events,
      el("h3", {}, `Costs (${usd(m.cost_usd)})`), costs, el("h3", {}, "Operator decisions"), decisions);
  }

  // ---- switches and the operator's actions ---------------------------------------------------
  function renderSwitches(switches) {
    PK.replace($("#switches"), table([
      { label: "scope", value: (s) => (s.asset === "all" ? "global" : s.asset) },
      { label: "switch", value: (s) => (s.enabled ? "on" : "off"), cls: (s) => `col-switch ${s.enabled ? "good-text" : ""}` },
      { label: "executes by itself", value: (s) => (s.executes ? "yes" : "no: waits for approval"), cls: () => "col-executes" },
      { label: "last turned", value: (s) => (s.by ? `${s.by}, ${fmt.time(s.since_ms)}` : "–") },
      { label: "", value: (s) => (operatorActions ? el("button", { type: "button", class: "toggle", onclick: () => setExecution(s.asset, !s.enabled) }, s.enabled ? "Turn off" : "Turn on") : "–") },
    ], switches.map((s) => ({ ...s, _id: s.asset })), "no switch"));
  }

  function setOperatorMode() {
    $("#rb-op-mode").textContent = operatorActions
      ? "Approving, dismissing and the switches need an operator token from the configuration; it is kept in this tab only. Each action is written to the audit trail."
      : "Read-only: no operator tokens are configured (PEGKEEPER_WEB__OPERATOR_TOKENS), so every action is refused.";
  }

  function showResult(status, data) {
    const box = $("#rb-op-result");
    if (data.action) {
      box.textContent = `${data.action} by ${data.operator}: ${data.result}, ${data.detail}`;
      box.className = data.result === "failed" ? "bad" : "good";
    } else {
      box.textContent = `refused (${status}): ${data.error || data.detail || JSON.stringify(data)}`;
      box.className = "bad";
    }
  }

  async function post(path, body) {
    const note = $("#rb-note").value.trim();
    const { status, data } = await operator.call(path, { ...body, note: note || undefined });
    showResult(status, data);
    if (data.action) $("#rb-note").value = "";
    refresh();
  }

  const decide = (id, verb) => post(`/api/v1/equities/rebalancing/proposals/${encodeURIComponent(id)}/${verb}`, {});
  const setExecution = (asset, enabled) => post("/api/v1/equities/rebalancing/execution", { asset, enabled });

  async function showWho() {
    const who = await operator.whoami();
    const label = $("#rb-who");
    if (!who) label.textContent = "no token entered";
    else if (who.status === 200) label.textContent = `acting as ${who.data.operator}`;
    else label.textContent = `token refused (${who.status})`;
  }

  function wire() {
    $("#rb-token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      operator.remember($("#rb-token").value.trim());
      $("#rb-token").value = "";
      showWho();
    });
    $("#history-older").addEventListener("click", () => { before = nextBefore; refresh(); });
    $("#history-newer").addEventListener("click", () => { before = null; refresh(); });
    showWho();
  }

  const refresh = throttle(() => load().catch(console.error), 1000);
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
