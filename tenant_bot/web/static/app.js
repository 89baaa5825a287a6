// Basis dashboard: one user's bot. Reads and steers it through api/v1 (relative URLs: the page is
// served under the control plane's per-user prefix) and follows its live event stream.

import { api, ApiError, fieldErrors } from "./api.js";
import { drawChart } from "./chart.js";
import { openDialog, setupDialog } from "./dialogs.js";
import { EventStream } from "./event_stream.js";
import {
  ago, clock, DASH, money, pct, price, protocolLabel, qty, shiftDecimal, shortAddress, signedMoney,
  signedPct, time, tone,
} from "./format.js";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
const PAGE_LOADED_AT = Date.now();

const state = {
  rates: null, // last /rates answer
  ratesLeverage: 3, // leverage the rates were computed at
  leverage: 3, // slider value
  status: null,
  balances: null,
  positions: [],
  settings: null,
  series: "funding",
  hours: 24,
  jobs: new Map(), // job id -> callback(job), for jobs followed from the page
  closing: new Set(), // position ids with a close in flight
  streamLive: false,
};

/* ---------------------------------------------------------------- small helpers */

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function setText(node, text, cls) {
  if (!node) return;
  if (node.textContent !== text) node.textContent = text;
  if (cls !== undefined) {
    node.classList.remove("pos", "neg");
    if (cls) node.classList.add(cls);
  }
}

function debounce(fn, ms) {
  let t = null;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

/** Run `fn` at most once per `ms`, always ending with a call after the last request. */
function throttle(fn, ms) {
  let last = 0;
  let timer = null;
  return () => {
    const wait = last + ms - Date.now();
    if (wait <= 0) {
      last = Date.now();
      fn();
    } else if (!timer) {
      timer = setTimeout(() => {
        timer = null;
        last = Date.now();
        fn();
      }, wait);
    }
  };
}

function isDesktop() {
  return window.matchMedia("(min-width: 701px)").matches;
}

/* ---------------------------------------------------------------- toasts */

const TOAST_LIMIT = 4;

function toast(message, { severity = "info", kind = "" } = {}) {
  const box = $("#toasts");
  const close = h("button", { type: "button", "aria-label": "Dismiss notification", text: "×" });
  const item = h(
    "div",
    { class: "toast", "data-severity": severity, "data-kind": kind },
    h("div", { class: "toast-body" }, kind ? h("span", { class: "toast-kind", text: kind }) : null, message),
    close,
  );
  close.addEventListener("click", () => item.remove());
  box.append(item);
  while (box.children.length > TOAST_LIMIT) box.firstElementChild.remove();
  setTimeout(() => item.remove(), severity === "critical" ? 15000 : 7000);
}

function toastError(err) {
  toast(err instanceof ApiError ? err.message : String(err), { severity: "warning" });
}

/* ---------------------------------------------------------------- tabs */

function setView(view, focus = false) {
  if (!["home", "positions", "settings"].includes(view)) view = "home";
  document.body.dataset.view = view;
  const shown = isDesktop() && view === "positions" ? "home" : view;
  for (const tab of $$('[role="tab"]')) {
    const selected = tab.dataset.view === shown;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    if (selected && focus) tab.focus();
  }
  if (location.hash !== `#${view}`) history.replaceState(null, "", `#${view}`);
  if (view === "home") requestAnimationFrame(loadChart);
}

function setupTabs() {
  const tabs = () => $$('[role="tab"]').filter((t) => t.offsetParent !== null);
  for (const tab of $$('[role="tab"]')) {
    tab.addEventListener("click", () => setView(tab.dataset.view));
    tab.addEventListener("keydown", (ev) => {
      const list = tabs();
      const i = list.indexOf(tab);
      let next = null;
      if (ev.key === "ArrowRight") next = list[(i + 1) % list.length];
      else if (ev.key === "ArrowLeft") next = list[(i - 1 + list.length) % list.length];
      else if (ev.key === "Home") next = list[0];
      else if (ev.key === "End") next = list[list.length - 1];
      if (next) {
        ev.preventDefault();
        setView(next.dataset.view, true);
      }
    });
  }
  setView(location.hash.slice(1) || "home");
  window.matchMedia("(min-width: 701px)").addEventListener("change", () => setView(document.body.dataset.view));
}

/** Radio groups drawn as segmented buttons: arrows move, click picks. */
function setupSegments(group, onPick) {
  const buttons = $$('[role="radio"]', group);
  const pick = (button, focus) => {
    for (const b of buttons) {
      const on = b === button;
      b.setAttribute("aria-checked", String(on));
      b.tabIndex = on ? 0 : -1;
    }
    if (focus) button.focus();
    onPick(button);
  };
  for (const b of buttons) {
    b.addEventListener("click", () => pick(b, false));
    b.addEventListener("keydown", (ev) => {
      const i = buttons.indexOf(b);
      if (ev.key === "ArrowRight" || ev.key === "ArrowDown") {
        ev.preventDefault();
        pick(buttons[(i + 1) % buttons.length], true);
      } else if (ev.key === "ArrowLeft" || ev.key === "ArrowUp") {
        ev.preventDefault();
        pick(buttons[(i - 1 + buttons.length) % buttons.length], true);
      }
    });
  }
}

/* ---------------------------------------------------------------- rates and the leverage slider */

const COMPONENTS = ["funding", "staking", "supply", "borrow", "fees"];

/**
 * The same decomposition as tenant_bot/strategy/opportunity.py, moved to another leverage: carry
 * scales with L/2, the borrow with (L-1)/2, amortised fees with L. Used so the figures follow the
 * slider at once; the bot's own answer replaces them a moment later.
 */
function atLeverage(row, from, to) {
  const half = to / 2;
  const c = {
    funding: half * Number(row.funding_apr),
    staking: half * Number(row.staking_apy),
    supply: half * Number(row.supply_apy),
    borrow: (-(to - 1) / 2) * Number(row.borrow_apy),
    fees: -Number(row.fees_apy) * (to / from),
  };
  const gross = c.funding + c.staking + c.supply + c.borrow;
  return {
    ...row,
    components: c,
    gross_apy: gross,
    net_apy: gross + c.fees,
    // break-even days = round trip on capital · 365 / gross; the round trip scales with L too.
    break_even_days:
      row.break_even_days !== null && Number(row.gross_apy) > 0 && gross > 0
        ? (Number(row.break_even_days) * Number(row.gross_apy) * (to / from)) / gross
        : null,
  };
}

function renderRates(rates, leverage) {
  const from = Number(rates.leverage);
  const exact = Math.abs(from - leverage) < 1e-9;
  const rows = exact ? rates.rows : rates.rows.map((r) => atLeverage(r, from, leverage));
  if (!exact) rows.sort((a, b) => Number(b.net_apy) - Number(a.net_apy));
  const best = exact ? rates.best || rows[0] || null : rows[0] || null;

  setText($("#best-net"), best ? pct(best.net_apy) : DASH, best ? tone(best.net_apy) : "");
  setText(
    $("#best-label"),
    best ? `${protocolLabel(best.protocol)} · ${best.asset} at ${leverage.toFixed(1)}x` : "no market open",
  );
  for (const key of COMPONENTS) {
    const v = best ? best.components[key] : null;
    setText($(`#decomp-body [data-c="${key}"]`), best ? signedPct(v) : DASH, best ? tone(v) : "");
  }
  setText($('.decomp [data-c="net"]'), best ? pct(best.net_apy) : DASH, best ? tone(best.net_apy) : "");
  const be = best && best.break_even_days !== null && best.break_even_days !== undefined;
  setText(
    $("#break-even"),
    best
      ? be
        ? `Fees are paid back after ${Number(best.break_even_days).toFixed(1)} days of carry.`
        : "At this leverage the carry does not pay the fees back."
      : "\u00a0",
  );

  const body = $("#markets-body");
  body.replaceChildren(
    ...rows.map((r, i) =>
      h(
        "tr",
        { class: i === 0 ? "best" : "" },
        h("td", { text: protocolLabel(r.protocol) }),
        h("td", { text: r.asset }),
        ...COMPONENTS.map((k) => h("td", { class: `num ${tone(r.components[k])}`, text: signedPct(r.components[k]) })),
        h("td", { class: `num ${tone(r.net_apy)}`, text: pct(r.net_apy) }),
      ),
    ),
  );

  const leg = $("#leg-asgard");
  setText($('[data-k="market"]', leg), best ? `${best.asset} on ${protocolLabel(best.protocol)}` : DASH);
  setText($('[data-k="supply"]', leg), best ? pct(best.supply_apy) : DASH);
  setText($('[data-k="staking"]', leg), best ? pct(best.staking_apy) : DASH);
  setText($('[data-k="borrow"]', leg), best ? pct(best.borrow_apy) : DASH);
  setText($('[data-k="capacity"]', leg), best && best.capacity_usd != null ? money(best.capacity_usd) : DASH);

  const f = rates.funding || {};
  const hl = $("#leg-hl");
  setText($('[data-k="rate"]', hl), f.rate != null ? `${pct(f.rate, 4)} / ${f.interval_hours || 1} h` : DASH, tone(f.rate));
  setText($('[data-k="apr"]', hl), f.apr != null ? pct(f.apr) : DASH, tone(f.apr));
  setText($('[data-k="predicted"]', hl), f.predicted && f.predicted.apr != null ? pct(f.predicted.apr) : DASH);
  setText($('[data-k="interval"]', hl), f.interval_hours ? `${f.interval_hours} h` : DASH);
  setText($('[data-s="funding"]'), f.apr != null ? pct(f.apr) : DASH, tone(f.apr));
  setText($("#rates-at"), rates.at ? `updated ${clock(rates.at)}` : "");
}

let ratesSeq = 0;
async function loadRates() {
  const seq = ++ratesSeq;
  const lev = state.leverage;
  try {
    const rates = await api(`rates?leverage=${lev.toFixed(1)}`);
    if (seq !== ratesSeq) return; // a newer request is on its way
    state.rates = rates;
    renderRates(rates, state.leverage);
  } catch (err) {
    if (seq === ratesSeq && !state.rates) setText($("#best-label"), err.message);
  }
}
const loadRatesSoon = debounce(loadRates, 180);
const refreshRates = throttle(loadRates, 2000);

function setLeverage(value, { fetch = true } = {}) {
  const lev = Math.min(4, Math.max(2, Math.round(Number(value) * 10) / 10));
  state.leverage = lev;
  const slider = $("#leverage");
  if (Number(slider.value) !== lev) slider.value = String(lev);
  setText($("#leverage-out"), `${lev.toFixed(1)}x`);
  slider.setAttribute("aria-valuetext", `${lev.toFixed(1)} times`);
  if (state.rates) renderRates(state.rates, lev);
  if (fetch) loadRatesSoon();
}

/* ---------------------------------------------------------------- status and controls */

function renderStatus(s) {
  state.status = s;
  renderDeposits(s.deposits);
  const pill = $("#trading-state");
  let text = "Active";
  let level = "ok";
  if (s.trading_state === "halted") {
    text = `Halted${s.halt_reason ? `: ${s.halt_reason}` : ""}`;
    level = "danger";
  } else if (s.kill_switch) {
    text = "Kill switch on";
    level = "danger";
  } else if (s.paused) {
    const reason = s.pause_reasons && s.pause_reasons[0] ? s.pause_reasons[0].reason : "";
    text = `Paused${reason ? `: ${reason}` : ""}`;
    level = "warning";
  } else if (s.trading_state === "reducing") {
    text = "Reducing";
    level = "warning";
  }
  if (s.shadow) text += " · shadow";
  pill.dataset.level = level;
  setText($(".state-text", pill), text);
  pill.title = text;
  const stoppable = s.paused || s.trading_state === "halted";
  $("#btn-pause").hidden = stoppable;
  $("#btn-resume").hidden = !stoppable;
  setText($('[data-s="tick"]'), ago(s.last_tick_at));
  setText($('[data-s="data"]'), dataAge(s.data));
  renderOpenButton();
}

/* How old the prices the bot decides on are, and how it reads them (status `data`). */
const READS = { gateway: "via the host's gateway", direct: "direct", fallback: "direct, gateway down" };

function dataAge(d) {
  if (!d || d.market_age_s == null) return "—";
  const stale = d.market_age_s > d.max_market_data_age_s ? " (too old to open)" : "";
  return `${Math.round(d.market_age_s)} s old, ${READS[d.reads] || d.reads}${stale}`;
}

/* ---------------------------------------------------------------- deposits and withdrawals */

const DEPOSIT_STATES = {
  signed: "sending",
  sent: "sent",
  bridging: "in flight",
  credited: "credited",
  failed: "failed, nothing moved",
};

function renderDeposits(d) {
  if (!d) return;
  setText($("#deposits-notice"), d.notice_text || "");
  const minutes = d.credit_timeout_minutes;
  $("#deposits-list").replaceChildren(
    ...d.transfers.map((t) => {
      const label =
        t.state === "not_credited" ? `not credited after ${minutes} min` : DEPOSIT_STATES[t.state] || t.state;
      return h("li", { "data-state": t.state, text: `${money(t.amount_usdc)} · ${label}` });
    }),
  );
}

function setupWithdrawDialog() {
  const dlg = $("#dlg-withdraw");
  const quoteBox = $("#w-quote");
  const review = $("#w-review");
  const confirm = $("#w-confirm");
  let quote = null;
  const reset = () => {
    quote = null;
    quoteBox.hidden = true;
    confirm.hidden = true;
    review.disabled = false;
    setText($("#w-error"), "");
  };
  $("#btn-withdraw").addEventListener("click", () => {
    reset();
    openDialog(dlg, $("#w-amount"));
  });
  $("#w-amount").addEventListener("input", reset);
  review.addEventListener("click", async () => {
    reset();
    review.disabled = true;
    try {
      quote = await api("withdrawals", { method: "POST", body: { amount_usdc: $("#w-amount").value.trim() } });
      for (const dd of $$("dd[data-k]", quoteBox)) {
        const k = dd.dataset.k;
        dd.textContent = k === "destination" ? quote[k] : money(quote[k]);
      }
      quoteBox.hidden = false;
      confirm.hidden = false;
      confirm.focus();
    } catch (err) {
      setText($("#w-error"), err.message);
    } finally {
      review.disabled = false;
    }
  });
  confirm.addEventListener("click", async () => {
    if (!quote) return;
    confirm.disabled = true;
    try {
      await api(`withdrawals/${encodeURIComponent(quote.id)}/confirm`, { method: "POST" });
      dlg.close();
      toast(`Withdrawal sent: ${money(quote.receive_usdc)} to ${shortAddress(quote.destination)}.`);
      loadBalances();
    } catch (err) {
      setText($("#w-error"), err.message);
    } finally {
      confirm.disabled = false;
    }
  });
}

async function loadStatus() {
  try {
    renderStatus(await api("status"));
  } catch (err) {
    const pill = $("#trading-state");
    pill.dataset.level = "danger";
    setText($(".state-text", pill), err.status ? err.message : "Bot unreachable");
  }
}

function setupControls() {
  $("#btn-pause").addEventListener("click", async () => {
    try {
      renderStatus(await api("control/pause", { method: "POST", body: { reason: "paused from the dashboard" } }));
    } catch (err) {
      toastError(err);
    }
  });
  $("#btn-resume").addEventListener("click", async () => {
    try {
      renderStatus(await api("control/resume", { method: "POST" }));
    } catch (err) {
      toastError(err);
    }
  });
  $("#btn-estop").addEventListener("click", () =>
    confirmAction({
      title: "Emergency stop",
      text: "Pause the bot and close every open position now (each leg at market). Resume lifts the pause; it does not reopen anything.",
      ok: "Stop and close everything",
      action: async () => {
        const s = await api("control/emergency-stop", { method: "POST" });
        renderStatus(s);
        for (const job of s.jobs || []) if (job.position_id) markClosing(job.position_id, job);
        toast("Emergency stop: paused, closing every position.", { severity: "warning" });
      },
    }),
  );
}

/* ---------------------------------------------------------------- confirmation dialog */

function confirmAction({ title, text, ok, action }) {
  const dlg = $("#dlg-confirm");
  setText($("#dlg-confirm-title"), title);
  setText($("#dlg-confirm-text"), text);
  setText($("#dlg-confirm-error"), "");
  const button = $("#confirm-ok");
  button.textContent = ok;
  button.disabled = false;
  button.onclick = async () => {
    button.disabled = true;
    try {
      await action();
      dlg.close();
    } catch (err) {
      setText($("#dlg-confirm-error"), err.message);
      button.disabled = false;
    }
  };
  openDialog(dlg, $("[data-close]", dlg)); // the safe choice has the focus
}

/* ---------------------------------------------------------------- balances */

const SOLANA_TOKENS = ["SOL", "USDC", "jitoSOL", "mSOL", "jupSOL", "INF"];

function walletRows(dl, rows) {
  dl.replaceChildren(...rows.flatMap(([k, v, cls]) => [h("dt", { text: k }), h("dd", { class: `num ${cls || ""}`, text: v })]));
}

function renderBalances(b) {
  state.balances = b;
  for (const venue of ["solana", "arbitrum", "hyperliquid"]) {
    const box = $(`.wallet[data-w="${venue}"]`);
    const dl = $("dl", box);
    const data = b[venue] || {};
    const title = $("h3", box);
    let addr = $(".addr", title);
    if (!addr) {
      addr = h("button", { type: "button", class: "addr btn-small btn", title: "Copy the address" });
      addr.addEventListener("click", () => {
        const full = addr.dataset.address;
        if (full && navigator.clipboard) navigator.clipboard.writeText(full).then(() => toast("Address copied."));
      });
      title.append(addr);
    }
    addr.hidden = !data.address;
    addr.dataset.address = data.address || "";
    addr.textContent = shortAddress(data.address);
    addr.setAttribute("aria-label", `Copy ${venue} address ${data.address || ""}`);
    if (data.error) {
      walletRows(dl, [["Unavailable", data.error, "err"]]);
      continue;
    }
    if (venue === "solana") {
      walletRows(
        dl,
        SOLANA_TOKENS.filter((t) => t === "SOL" || t === "USDC" || Number(data[t]) > 0).map((t) => [
          t,
          t === "USDC" ? money(data[t]) : qty(data[t], 4),
        ]),
      );
    } else if (venue === "arbitrum") {
      walletRows(dl, [["USDC", money(data.USDC)], ["ETH", qty(data.ETH, 5)]]);
    } else {
      walletRows(dl, [
        ["Account value", money(data.account_value)],
        ["Withdrawable", money(data.withdrawable)],
        ["Margin used", money(data.margin_used)],
      ]);
    }
  }
  renderOpenButton();
}

async function loadBalances() {
  try {
    renderBalances(await api("balances"));
  } catch (err) {
    setText($("#open-blocked"), err.message);
  }
}

/** The reason opening is refused now, or "" when it is allowed. */
function openBlockedReason() {
  const s = state.status;
  if (s) {
    if (s.trading_state === "halted") return `The bot is halted${s.halt_reason ? `: ${s.halt_reason}` : ""}.`;
    if (s.kill_switch) return "The kill switch is on: no new position.";
    if (s.paused) return "The bot is paused: resume it to open a position.";
  }
  const b = state.balances;
  if (!b) return "Reading the wallets…";
  if (b.blocked) return b.blocked;
  if (b.can_open === false) return "Funds are short to open a position.";
  return "";
}

function renderOpenButton() {
  const reason = openBlockedReason();
  $("#btn-open").disabled = Boolean(reason);
  setText($("#open-blocked"), reason);
}

/* ---------------------------------------------------------------- positions */

const HEALTH = {
  ok: { icon: "✓", text: "Healthy" },
  warning: { icon: "!", text: "Warning" },
  danger: { icon: "✕", text: "Danger" },
  // The long is gone (liquidated, or closed outside the bot): the short is left on its own.
  unhedged: { icon: "✕", text: "Unhedged — long gone" },
};

const PNL_PARTS = ["funding", "interest", "staking", "fees", "price"];

function positionItem(p) {
  const figure = (label, key) =>
    h("div", { "data-f": key }, h("span", { text: label }), h("strong", { "data-v": key, text: DASH }));
  const split = h("dl", { class: "kv pnl-split", "data-split": "" });
  const pnl = h(
    "div",
    { class: "pnl-total", tabindex: "0", role: "group", "aria-label": "Profit and loss, with its split" },
    h("span", { text: "PnL" }),
    h("strong", { "data-v": "pnl" }),
    split,
  );
  const leg = (title, key) => h("div", {}, h("h4", { text: title }), h("dl", { class: "kv", "data-leg": key }));
  const closeBtn = h("button", { type: "button", class: "btn btn-small", "data-action": "close", text: "Close" });
  closeBtn.addEventListener("click", () => askClose(p.id));
  const li = h(
    "li",
    { class: "position", "data-position-id": p.id },
    h(
      "div",
      { class: "position-head" },
      h("span", { class: "position-title", "data-v": "title" }),
      h("span", { class: "health", "data-v": "health" }, h("span", { class: "icon", "aria-hidden": "true" }), h("span", { class: "label" })),
      closeBtn,
    ),
    h("div", { class: "position-figures" }, h("div", {}, pnl), figure("Delta drift", "drift"), figure("Notional", "notional")),
    h(
      "details",
      {},
      h("summary", { text: "Legs" }),
      h("div", { class: "legs-detail" }, leg("Long · Asgard", "long"), leg("Short · Hyperliquid", "short")),
      h("p", { class: "muted small", "data-v": "times" }),
    ),
  );
  return li;
}

function updatePositionItem(li, p) {
  const open = p.status === "open";
  const lev = Number(p.leverage);
  setText(
    $('[data-v="title"]', li),
    `${p.asset} on ${protocolLabel(p.protocol)} · ${Number.isFinite(lev) ? lev.toFixed(1) : p.leverage}x${p.shadow ? " · shadow" : ""}${open ? "" : ` · ${p.status}`}`,
  );
  const health = $('[data-v="health"]', li);
  const hs = HEALTH[p.health] || { icon: "?", text: p.health || "unknown" };
  health.dataset.health = p.health || "";
  health.hidden = !open && p.health !== "unhedged";
  setText($(".icon", health), hs.icon);
  setText($(".label", health), hs.text);
  health.setAttribute("aria-label", `Health: ${hs.text}`);

  const pnl = p.pnl || {};
  setText($('[data-v="pnl"]', li), signedMoney(pnl.total), tone(pnl.total));
  const split = $("[data-split]", li);
  split.replaceChildren(
    ...PNL_PARTS.flatMap((k) => [
      h("dt", { text: k[0].toUpperCase() + k.slice(1) }),
      h("dd", { class: `num ${tone(pnl[k])}`, text: signedMoney(pnl[k]) }),
    ]),
  );
  const delta = p.delta || {};
  setText($('[data-v="drift"]', li), delta.drift != null ? pct(delta.drift) : DASH);
  setText($('[data-v="notional"]', li), money(p.long && p.long.value_usd));

  const l = p.long || {};
  walletRows($('[data-leg="long"]', li), [
    ["Size", l.lost ? "Gone: liquidated, or closed outside the bot" : `${qty(l.token_size)} ${p.asset}`],
    ["Entry", price(l.entry_price)],
    ["Price", price(l.price)],
    ["Collateral", money(l.collateral_usdc)],
    ["Debt", money(l.debt_usdc)],
    ["Health", l.health_factor != null ? pct(l.health_factor) : DASH],
  ]);
  const s = p.short || {};
  walletRows($('[data-leg="short"]', li), [
    ["Size", `${qty(s.size)} SOL`],
    ["Entry", price(s.entry_px)],
    ["Mark", price(s.mark_px)],
    ["Liquidation", price(s.liquidation_px)],
    ["To liquidation", s.liquidation_distance != null ? pct(s.liquidation_distance) : DASH],
    ["Margin", money(s.margin_used)],
  ]);
  setText($('[data-v="times"]', li), `Opened ${time(p.opened_at)}${p.closed_at ? ` · closed ${time(p.closed_at)}` : ""}`);

  const button = $('[data-action="close"]', li);
  button.hidden = !open;
  const closing = state.closing.has(p.id);
  button.disabled = closing;
  button.textContent = closing ? "Closing…" : "Close";
  button.setAttribute("aria-label", closing ? `Closing the ${p.asset} position` : `Close the ${p.asset} position on ${protocolLabel(p.protocol)}`);
}

function syncList(list, positions) {
  const existing = new Map($$(":scope > li", list).map((li) => [li.dataset.positionId, li]));
  let previous = null;
  for (const p of positions) {
    let li = existing.get(p.id);
    if (!li) li = positionItem(p);
    existing.delete(p.id);
    updatePositionItem(li, p);
    const want = previous ? previous.nextSibling : list.firstChild;
    if (want !== li) list.insertBefore(li, want);
    previous = li;
  }
  for (const li of existing.values()) li.remove();
}

function renderPositions(positions, lifetime) {
  state.positions = positions;
  const open = positions.filter((p) => p.status === "open" || p.status === "closing");
  const closed = positions.filter((p) => !(p.status === "open" || p.status === "closing"));
  for (const id of [...state.closing]) if (!open.some((p) => p.id === id)) state.closing.delete(id);
  syncList($("#positions-open"), open);
  syncList($("#positions-closed"), closed);
  $("#positions-empty").hidden = open.length > 0;
  setText($("#positions-count"), open.length ? `${open.length} open` : "");
  setText($("#closed-count"), closed.length ? `(${closed.length})` : "");

  // Strategy performance: every position's, summed by the bot (the list holds the latest closed only).
  const totals = lifetime || {};
  setText($("#perf-total"), signedMoney(totals.total), tone(totals.total));
  for (const k of PNL_PARTS) setText($(`#perf-split [data-k="${k}"]`), signedMoney(totals[k]), tone(totals[k]));
  const notional = open.reduce((sum, p) => sum + (Number(p.long && p.long.value_usd) || 0), 0);
  setText($('[data-s="open"]'), String(open.length));
  setText($('[data-s="notional"]'), money(notional));
}

async function loadPositions() {
  try {
    const listing = await api("positions");
    renderPositions(listing.positions || [], listing.lifetime);
  } catch (err) {
    setText($("#positions-empty"), err.message);
  }
}
const refreshPositions = throttle(loadPositions, 1500);

function markClosing(positionId, job) {
  state.closing.add(positionId);
  const li = $(`#positions-open li[data-position-id="${CSS.escape(positionId)}"]`);
  const p = state.positions.find((x) => x.id === positionId);
  if (li && p) updatePositionItem(li, p);
  followJob(job, (j) => {
    if (j.state === "done" || j.state === "failed") {
      if (j.state === "failed" || j.outcome !== "completed") {
        state.closing.delete(positionId);
        toast(`The close did not complete: ${j.error || j.outcome || "failed"}.`, { severity: "critical" });
      }
      loadPositions();
      loadBalances();
    }
  });
}

function askClose(positionId) {
  const p = state.positions.find((x) => x.id === positionId);
  const what = p ? `${p.asset} on ${protocolLabel(p.protocol)} at ${Number(p.leverage).toFixed(1)}x` : "this position";
  confirmAction({
    title: "Close the position?",
    text: `Close ${what}: the Hyperliquid short first, then the Asgard long. PnL so far: ${signedMoney(p && p.pnl && p.pnl.total)}.`,
    ok: "Close position",
    action: async () => {
      const job = await api(`positions/${encodeURIComponent(positionId)}/close`, { method: "POST" });
      markClosing(positionId, job);
    },
  });
}

/* ---------------------------------------------------------------- jobs */

/** Follow a job to its end through job.progress events, polling as a safety net. */
function followJob(job, onUpdate) {
  let finished = false;
  const update = (j) => {
    if (finished) return;
    onUpdate(j);
    if (j.state === "done" || j.state === "failed") {
      finished = true;
      state.jobs.delete(job.id);
    }
  };
  state.jobs.set(job.id, update);
  update(job);
  const poll = async () => {
    if (finished) return;
    try {
      update(await api(`jobs/${encodeURIComponent(job.id)}`));
    } catch {
      /* the event stream or the next poll will tell */
    }
    if (!finished) setTimeout(poll, 1000);
  };
  setTimeout(poll, 700);
}

/* ---------------------------------------------------------------- open-position dialog */

function openBody() {
  const f = $("#open-form");
  const body = { capital_usd: f.capital_usd.value.trim(), leverage: f.leverage.value.trim() };
  if (f.asset.value) body.asset = f.asset.value;
  if (f.protocol.value) body.protocol = f.protocol.value;
  return body;
}

function showFieldErrors(form, prefix, errors) {
  for (const p of $$(".field-error", form)) if (p.id.startsWith(prefix)) setText(p, "");
  for (const i of $$("[aria-invalid]", form)) i.removeAttribute("aria-invalid");
  const unmatched = [];
  for (const [key, msg] of errors) {
    const slot = document.getElementById(`${prefix}${key}`);
    if (slot) {
      setText(slot, msg);
      $(`[data-field="${CSS.escape(key)}"] input, [data-field="${CSS.escape(key)}"] select`, form)?.setAttribute("aria-invalid", "true");
    } else {
      unmatched.push(key ? `${key}: ${msg}` : msg);
    }
  }
  return unmatched;
}

function renderPreview(pv) {
  const long = (pv && pv.long) || {};
  const short = (pv && pv.short) || {};
  setText($('#pv-long [data-k="market"]'), long.asset ? `${long.asset} on ${protocolLabel(long.protocol)}` : DASH);
  setText($('#pv-long [data-k="collateral"]'), money(long.collateral_usdc));
  setText($('#pv-long [data-k="notional"]'), money(long.notional_usd));
  setText($('#pv-long [data-k="size"]'), long.token_size != null ? `${qty(long.token_size)} ${long.asset}` : DASH);
  setText($('#pv-short [data-k="margin"]'), money(short.margin_usd));
  setText($('#pv-short [data-k="notional"]'), money(short.notional_usd));
  setText($('#pv-short [data-k="size"]'), short.size_sol != null ? `${qty(short.size_sol)} SOL` : DASH);
  setText($("#pv-net"), pct(pv && pv.net_apy), tone(pv && pv.net_apy));
  setText($("#pv-limited"), pv && pv.limited_by ? `limited by ${pv.limited_by}` : "");
}

let previewSeq = 0;
let openJobRunning = false;
async function preview() {
  const seq = ++previewSeq;
  const form = $("#open-form");
  try {
    const pv = await api("positions/preview", { method: "POST", body: openBody() });
    if (seq !== previewSeq) return;
    showFieldErrors(form, "e-o-", new Map());
    renderPreview(pv);
    setText($("#pv-blocked"), pv.blocked || "");
    if (!openJobRunning) $("#open-confirm").disabled = Boolean(pv.blocked);
  } catch (err) {
    if (seq !== previewSeq) return;
    renderPreview(null);
    const rest = err.status === 422 ? showFieldErrors(form, "e-o-", fieldErrors(err.detail)) : [err.message];
    setText($("#pv-blocked"), rest.join("; "));
    if (!openJobRunning) $("#open-confirm").disabled = true;
  }
}
const previewSoon = debounce(preview, 250);

function renderSteps(job) {
  const list = $("#open-steps");
  list.replaceChildren(
    ...(job.steps || []).map((s) => h("li", { "data-status": s.status, text: `${s.name.replaceAll("_", " ")} · ${s.status}` })),
    h("li", { "data-status": job.state === "done" ? "done" : job.state, text: `job ${job.state}` }),
  );
}

function setupOpenDialog() {
  const dlg = $("#dlg-open");
  const form = $("#open-form");
  $("#btn-open").addEventListener("click", () => {
    form.leverage.value = state.leverage.toFixed(1);
    if (state.settings && !form.dataset.touched) form.capital_usd.value = state.settings.entry_capital_usd;
    $("#open-steps").replaceChildren();
    setText($("#pv-blocked"), "");
    $("#open-confirm").disabled = true;
    openJobRunning = false;
    openDialog(dlg, form.capital_usd);
    preview();
  });
  form.addEventListener("input", () => {
    form.dataset.touched = "1";
    previewSoon();
  });
  form.addEventListener("change", previewSoon);
  form.addEventListener("submit", (ev) => ev.preventDefault());
  form.capital_usd.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") ev.preventDefault();
  });
  $("#open-confirm").addEventListener("click", async () => {
    const button = $("#open-confirm");
    button.disabled = true;
    openJobRunning = true;
    setText($("#pv-blocked"), "");
    try {
      const job = await api("positions/open", { method: "POST", body: openBody() });
      followJob(job, (j) => {
        renderSteps(j);
        if (j.state === "done" && j.outcome === "completed") {
          openJobRunning = false;
          // The event stream brings "position.opened"; say it here only when the stream is down.
          if (!state.streamLive) toast("Position opened: both legs are on.", { severity: "success", kind: "job" });
          loadPositions();
          loadBalances();
          if (dlg.open) dlg.close();
          setView(isDesktop() ? "home" : "positions");
        } else if (j.state === "done" || j.state === "failed") {
          openJobRunning = false;
          setText($("#pv-blocked"), `Not opened (${j.outcome || j.state}): ${j.error || "see the events"}.`);
          button.disabled = false;
          loadPositions();
          loadBalances();
        }
      });
    } catch (err) {
      openJobRunning = false;
      const rest = err.status === 422 ? showFieldErrors(form, "e-o-", fieldErrors(err.detail)) : [err.message];
      setText($("#pv-blocked"), rest.join("; "));
      button.disabled = false;
    }
  });
}

/* ---------------------------------------------------------------- settings and presets */

function getPath(obj, path) {
  return path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

function setPath(obj, path, value) {
  const keys = path.split(".");
  let o = obj;
  for (const k of keys.slice(0, -1)) o = o[k] ??= {};
  o[keys[keys.length - 1]] = value;
}

function fillSettings(s) {
  state.settings = s;
  const form = $("#settings-form");
  const groups = new Set();
  for (const input of $$("input, select", form)) {
    const name = input.name;
    if (!name) continue;
    const value = getPath(s, name);
    if (input.type === "checkbox" && input.value !== "on") {
      groups.add(name);
      input.checked = Array.isArray(value) && value.includes(input.value);
    } else if (input.type === "checkbox") {
      input.checked = Boolean(value);
    } else if (value === null || value === undefined) {
      input.value = "";
    } else if (input.hasAttribute("data-percent")) {
      input.value = shiftDecimal(value, 2) ?? String(value);
    } else {
      input.value = String(value);
    }
  }
}

function collectSettings() {
  const form = $("#settings-form");
  const out = {};
  for (const input of $$("input, select", form)) {
    const name = input.name;
    if (!name) continue;
    if (input.type === "checkbox" && input.value !== "on") {
      const list = getPath(out, name) || [];
      if (input.checked) list.push(input.value);
      setPath(out, name, list);
      continue;
    }
    if (input.type === "checkbox") {
      setPath(out, name, input.checked);
      continue;
    }
    const text = input.value.trim();
    let value = text;
    if (text === "" && input.hasAttribute("data-nullable")) value = null;
    else if (input.hasAttribute("data-percent")) value = shiftDecimal(text, -2) ?? text; // bad text: the bot says why
    else if (input.hasAttribute("data-int") && /^-?\d+$/.test(text)) value = Number.parseInt(text, 10);
    setPath(out, name, value);
  }
  return out;
}

async function loadSettings() {
  try {
    const s = await api("settings");
    fillSettings(s);
    return s;
  } catch (err) {
    setText($("#settings-error"), err.message);
    return null;
  }
}

function settingsApplied(s, message) {
  const before = state.settings;
  fillSettings(s);
  showFieldErrors($("#settings-form"), "e-", new Map());
  setText($("#settings-error"), "");
  setText($("#settings-state"), message);
  if (!before || before.leverage !== s.leverage) setLeverage(Number(s.leverage));
  document.dispatchEvent(new CustomEvent("basis:settings-applied")); // static/backtest.js asks again
}

function setupSettings() {
  const form = $("#settings-form");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    setText($("#settings-state"), "Saving…");
    try {
      settingsApplied(await api("settings", { method: "POST", body: collectSettings() }), `Saved at ${clock(new Date().toISOString())}`);
    } catch (err) {
      setText($("#settings-state"), "Not saved");
      if (err.status === 422) {
        const rest = showFieldErrors(form, "e-", fieldErrors(err.detail));
        setText($("#settings-error"), rest.join("; "));
        $('[aria-invalid="true"]', form)?.focus();
      } else {
        setText($("#settings-error"), err.message);
      }
    }
  });
  $("#settings-reset").addEventListener("click", () =>
    confirmAction({
      title: "Reset the settings?",
      text: "Every setting goes back to its default. Presets are kept.",
      ok: "Reset",
      action: async () => settingsApplied(await api("settings/reset", { method: "POST" }), "Reset to defaults"),
    }),
  );
}

function presetSummary(s) {
  if (!s) return "Empty";
  return `${Number(s.leverage).toFixed(1)}x · ${money(s.entry_capital_usd)} per entry · enter above ${pct(s.min_entry_net_apy)}${s.auto_entry ? " · auto" : ""}`;
}

function renderPresets(presets) {
  const list = $("#presets");
  list.replaceChildren(
    ...presets.map((p) => {
      const error = h("p", { class: "field-error", role: "alert" });
      const nameInput = h("input", { "aria-label": `New name for preset ${p.slot}`, value: p.name, maxlength: "40" });
      const rename = h(
        "form",
        { class: "rename", hidden: true },
        nameInput,
        h("button", { type: "submit", class: "btn btn-small", text: "OK" }),
      );
      const act = async (fn, done) => {
        setText(error, "");
        try {
          await fn();
          if (done) toast(done, { severity: "success" });
          loadPresets();
        } catch (err) {
          const msgs = err.status === 422 ? [...fieldErrors(err.detail).values()] : [err.message];
          setText(error, msgs.join("; "));
        }
      };
      rename.addEventListener("submit", (ev) => {
        ev.preventDefault();
        act(() => api(`settings/presets/${p.slot}/rename`, { method: "POST", body: { name: nameInput.value } }), null);
      });
      rename.addEventListener("keydown", (ev) => {
        if (ev.key === "Escape") {
          ev.preventDefault();
          rename.hidden = true;
        }
      });
      return h(
        "li",
        { class: "preset", "data-slot": p.slot },
        h("div", {}, h("div", { class: "preset-name", text: p.name }), h("div", { class: "muted small", text: presetSummary(p.settings) })),
        h(
          "div",
          { class: "preset-actions" },
          h("button", {
            type: "button",
            class: "btn btn-small",
            disabled: !p.settings,
            text: "Load",
            "aria-label": `Load preset ${p.name}`,
            onclick: () =>
              act(async () => settingsApplied(await api(`settings/presets/${p.slot}/load`, { method: "POST" }), `Loaded “${p.name}”`), `Preset “${p.name}” loaded.`),
          }),
          h("button", {
            type: "button",
            class: "btn btn-small",
            text: "Save current",
            "aria-label": `Save the current settings as preset ${p.name}`,
            onclick: () => act(() => api(`settings/presets/${p.slot}/save`, { method: "POST", body: { name: p.name } }), `Saved into “${p.name}”.`),
          }),
          h("button", {
            type: "button",
            class: "btn btn-small",
            text: "Rename",
            "aria-label": `Rename preset ${p.name}`,
            onclick: () => {
              rename.hidden = !rename.hidden;
              if (!rename.hidden) nameInput.focus();
            },
          }),
        ),
        rename,
        error,
      );
    }),
  );
}

async function loadPresets() {
  try {
    renderPresets((await api("settings/presets")).presets || []);
  } catch (err) {
    $("#presets").replaceChildren(h("li", { class: "muted", text: err.message }));
  }
}

/* ---------------------------------------------------------------- charts */

const SERIES = {
  funding: { label: "SOL funding (APR)", format: (v) => pct(v) },
  apy: { label: "Best net APY", format: (v) => pct(v) },
  pnl: { label: "Total PnL", format: (v) => signedMoney(v) },
  price: { label: "SOL price (Hyperliquid mark, candle closes)", format: (v) => price(v) },
};
// The price chart's candle interval per time range: about a hundred candles each.
const CANDLE_INTERVAL = { 24: "15m", 168: "1h", 720: "4h" };

async function chartPoints(series, hours) {
  if (series !== "price") return (await api(`history?series=${series}&hours=${hours}`)).points || [];
  const data = await api(`candles?interval=${CANDLE_INTERVAL[hours] || "1h"}`);
  return data.candles.map((c) => ({ at: c.open_ms, value: c.close }));
}

let chartSeq = 0;
let chartData = null;
async function loadChart() {
  const seq = ++chartSeq;
  const { series, hours } = state;
  try {
    const points = await chartPoints(series, hours);
    if (seq !== chartSeq) return;
    chartData = points;
    drawChart($("#chart"), chartData, SERIES[series]);
  } catch (err) {
    if (seq === chartSeq) $("#chart").replaceChildren(h("div", { class: "empty", text: err.message }));
  }
}

function setupCharts() {
  const [seriesGroup, hoursGroup] = $$(".seg");
  setupSegments(seriesGroup, (b) => {
    state.series = b.dataset.series;
    loadChart();
  });
  setupSegments(hoursGroup, (b) => {
    state.hours = Number(b.dataset.hours);
    loadChart();
  });
  new ResizeObserver(
    debounce(() => {
      if (chartData) drawChart($("#chart"), chartData, SERIES[state.series]);
    }, 100),
  ).observe($("#chart"));
}

/* ---------------------------------------------------------------- the event stream */

const QUIET = new Set([
  "job.progress", "rates.tick", "pnl.tick", "execution.started", "execution.long_confirmed", "execution.delta",
]);

function onEvent(ev) {
  const kind = ev.kind || "";
  if (kind === "job.progress" && ev.data && ev.data.id && state.jobs.has(ev.data.id)) {
    state.jobs.get(ev.data.id)(ev.data);
  }
  if (kind === "rates.tick") refreshRates();
  if (kind === "pnl.tick" || kind.startsWith("position.")) refreshPositions();
  if (kind.startsWith("position.") || kind.startsWith("execution.")) loadBalances();
  if (kind.startsWith("deposit.") || kind.startsWith("withdrawal.")) {
    loadStatus();
    loadBalances();
  }
  if (kind.startsWith("risk.") || kind.startsWith("control.") || kind === "bot.started") loadStatus();
  if (kind === "settings.changed") {
    loadSettings();
    loadPresets();
  }
  // Replayed history older than this page is not news; what was missed while disconnected is.
  const at = Date.parse(ev.at);
  if (!QUIET.has(kind) && ev.message && (!Number.isFinite(at) || at >= PAGE_LOADED_AT - 5000)) {
    toast(ev.message, { severity: ev.severity || "info", kind });
  }
}

function onStreamState(s, again) {
  const pill = $("#stream-state");
  const labels = { open: "Live", connecting: "Connecting", reconnecting: "Reconnecting…" };
  state.streamLive = s === "open";
  pill.dataset.level = s === "open" ? "ok" : "warning";
  setText($(".live-text", pill), labels[s] || s);
  if (s === "open" && again) refreshAll(); // catch up on anything the events did not carry
}

/* ---------------------------------------------------------------- start */

function refreshAll() {
  loadStatus();
  loadBalances();
  loadPositions();
  loadRates();
}

async function main() {
  for (const d of $$("dialog")) setupDialog(d);
  setupTabs();
  setupControls();
  setupOpenDialog();
  setupWithdrawDialog();
  setupSettings();
  setupCharts();
  const slider = $("#leverage");
  slider.addEventListener("input", () => setLeverage(slider.value));

  const settings = await loadSettings();
  if (settings && settings.leverage) setLeverage(Number(settings.leverage), { fetch: false });
  await Promise.all([loadRates(), loadStatus(), loadBalances(), loadPositions(), loadPresets(), loadChart()]);
  document.body.dataset.ready = "true";

  new EventStream("api/v1/events/stream", { onEvent, onState: onStreamState }).start();

  // Safety nets in case an event is missed; cheap calls, and nothing runs while the tab is hidden.
  const every = (ms, fn) => setInterval(() => document.hidden || fn(), ms);
  every(5000, loadStatus);
  every(10000, loadPositions);
  every(15000, loadBalances);
  every(30000, loadRates);
  every(60000, loadChart);
}

main();
