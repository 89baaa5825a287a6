// The portal: Connect → email → code → (deposit) → the user's own dashboard, proxied at `app/`.
// Plain ES module, same-origin requests only, relative URLs (the page may sit under a prefix).

import { api, detailText } from "./api.js";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

const RESEND_COOLDOWN_S = 30;
const POLL_STARTING_MS = 1000; // while the bot starts: progress every second
const POLL_RUNNING_MS = 10000; // once it runs: notice a stopped bot or an ended session
const FOCUSABLE =
  'button:not([disabled]), [href], input:not([disabled]), select:not([disabled]), [tabindex]:not([tabindex="-1"])';

const state = {
  me: null,
  email: "",
  resendAt: 0, // when "Resend code" may be used again (ms)
  resendTimer: null,
  pollTimer: null,
  busy: false,
  checkBalance: false, // after an existing user's sign-in: deposit dialog if their bot sees no funds
  dashboardFor: null, // the tenant whose dashboard the iframe shows
  wantSettings: false,
};

/* ------------------------------------------------------------------ small helpers */

function toast(message, severity = "info") {
  const box = $("#toasts");
  const item = document.createElement("div");
  item.className = "toast";
  item.dataset.severity = severity;
  item.textContent = message;
  box.append(item);
  setTimeout(() => item.remove(), 6000);
}

// The Tab wrap repeats tenant_bot/web/static/dialogs.js on purpose: the portal and the dashboard are served
// by separate processes, and the bot's wheel holds no control-plane file, so neither can import the other's.
function setupDialog(dialog) {
  dialog.addEventListener("keydown", (ev) => {
    if (ev.key !== "Tab") return;
    const items = $$(FOCUSABLE, dialog).filter((n) => n.getClientRects().length > 0);
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    if (ev.shiftKey && document.activeElement === first) {
      ev.preventDefault();
      last.focus();
    } else if (!ev.shiftKey && document.activeElement === last) {
      ev.preventDefault();
      first.focus();
    }
  });
  for (const button of $$("[data-close]", dialog)) button.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    const back = dialog._returnFocus;
    dialog._returnFocus = null;
    if (back && document.contains(back) && back.getClientRects().length) back.focus();
  });
}

function openDialog(dialog, focus) {
  for (const other of $$("dialog[open]")) if (other !== dialog) other.close();
  dialog._returnFocus = document.activeElement;
  if (!dialog.open) dialog.showModal();
  (focus || $(FOCUSABLE, dialog))?.focus();
}

/** A server message as a sentence: capital first letter, final full stop. */
function sentence(text) {
  const t = String(text || "").trim();
  if (!t) return "";
  const first = t[0].toUpperCase() + t.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

function seconds(s) {
  return s === null || s === undefined ? "" : `${Math.round(s)} s`;
}

/* ------------------------------------------------------------------ views */

function show(view) {
  document.body.dataset.state = view;
  $("#view-welcome").hidden = view !== "signed-out";
  $("#view-progress").hidden = view !== "progress";
  $("#dashboard").hidden = view !== "dashboard";
  $("#signed-out").hidden = view !== "signed-out";
  $("#signed-in").hidden = view === "signed-out" || view === "loading";
  $("#bot-pill").hidden = view === "signed-out" || view === "loading";
}

function signedOut(message) {
  stopPolling();
  state.me = null;
  state.checkBalance = false;
  closeMenu();
  for (const dialog of $$("dialog[open]")) {
    if (dialog.id !== "dlg-email" && dialog.id !== "dlg-code") dialog.close();
  }
  unloadDashboard();
  show("signed-out");
  if (message) toast(message);
}

function unloadDashboard() {
  const frame = $("#dashboard");
  // about:blank ends the dashboard's event stream and forgets its state.
  if (frame.getAttribute("src") !== "about:blank") frame.src = "about:blank";
  state.dashboardFor = null;
}

function showDashboard(tenant) {
  const frame = $("#dashboard");
  if (state.dashboardFor !== tenant.id) {
    state.dashboardFor = tenant.id;
    frame.src = state.wantSettings ? "app/#settings" : "app/";
    state.wantSettings = false;
  }
  show("dashboard");
}

function renderPill(tenant) {
  const pill = $("#bot-pill");
  const text = $(".pill-text", pill);
  if (!tenant) {
    pill.dataset.level = "warning";
    text.textContent = "No bot";
    return;
  }
  const level = { running: "ok", failed: "danger", stopped: "warning" }[tenant.status] || "busy";
  pill.dataset.level = level;
  pill.dataset.status = tenant.status;
  text.textContent = {
    running: "Bot running",
    starting: `Bot starting ${seconds(tenant.elapsed_s)}`.trim(),
    provisioned: "Bot set up",
    failed: "Bot failed",
    stopped: "Bot stopped",
  }[tenant.status] || tenant.status;
}

function renderProgress(tenant) {
  const order = ["account", "provisioned", "starting", "running"];
  const status = tenant ? tenant.status : null;
  const stuck = status === "failed" || status === "stopped";
  // A failed or stopped bot was set up and did not get through "starting".
  const reached = !tenant ? 0 : stuck ? 2 : Math.max(1, order.indexOf(status));
  for (const li of $$("#progress-steps li")) {
    const i = order.indexOf(li.dataset.step);
    li.dataset.done = String(i < reached || status === "running");
    li.dataset.current = String(i === reached && !stuck && status !== "running");
    li.dataset.failed = String(i === reached && status === "failed");
  }
  const text = $("#progress-text");
  const errorBox = $("#progress-error");
  const retry = $("#btn-retry");
  errorBox.hidden = true;
  if (status !== "stopped") $("#stopped-positions").hidden = true;
  $("#progress-title").textContent = "Starting your bot";
  if (!tenant) {
    text.textContent = "";
    errorBox.hidden = false;
    $("#progress-error-text").textContent = "You have no bot yet. Disconnect and sign in again to set one up.";
    retry.hidden = true;
    return;
  }
  retry.hidden = false;
  if (tenant.status === "provisioned") {
    text.textContent = `Your bot is set up and about to start (${seconds(tenant.elapsed_s)}).`;
  } else if (tenant.status === "starting") {
    text.textContent = `Your bot is starting: waiting for it to answer (${seconds(tenant.elapsed_s)}).`;
    if (tenant.failures > 0 && tenant.last_error) {
      text.textContent += ` Attempt ${tenant.failures + 1}; the last one failed: ${sentence(tenant.last_error)}`;
    }
  } else if (tenant.status === "failed") {
    $("#progress-title").textContent = "Your bot could not start";
    const wait = tenant.retry_in_s;
    text.textContent =
      wait === null || wait === undefined
        ? "Retry to start it again."
        : wait >= 1
          ? `It is tried again automatically in ${seconds(wait)}, or retry now.`
          : "It is being tried again now.";
    errorBox.hidden = false;
    $("#progress-error-text").textContent = sentence(tenant.last_error || "the bot stopped during start-up");
    retry.textContent = "Retry";
  } else if (tenant.status === "stopped") {
    $("#progress-title").textContent = "Your bot is stopped";
    errorBox.hidden = false;
    showStoppedPositions();
    if (tenant.desired_state === "stopped") {
      // Stopped by an operator: only they can start it again. No error box without an error.
      text.textContent = "It was stopped by the operator of this service; contact them to start it again.";
      $("#progress-error-text").textContent = sentence(tenant.last_error || "");
      retry.hidden = true;
      errorBox.hidden = !tenant.last_error;
    } else {
      text.textContent = "It is started again automatically, or start it now.";
      $("#progress-error-text").textContent = sentence(tenant.last_error || "");
      retry.textContent = "Start";
    }
  } else if (tenant.status === "running") {
    text.textContent = "Your bot is ready.";
  }
}

// What the bot held when it was stopped (read just before it stopped): shown, not acted on.
async function showStoppedPositions() {
  const box = $("#stopped-positions");
  const r = await api("api/v1/tenant");
  const kept = r.ok ? r.data.positions_when_stopped : null;
  if (!kept) {
    box.hidden = true;
    return;
  }
  // Text only (textContent): what a bot reported is shown, never interpreted as markup.
  const row = (cells) => {
    const tr = document.createElement("tr");
    for (const text of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  };
  const rows = kept.positions.map((p) =>
    row([
      `${p.asset || "?"} on ${p.protocol || "?"} · ${p.leverage || "?"}x`,
      p.long_size != null ? `${p.long_size} ${p.asset || ""}` : "–",
      p.short_size != null ? `${p.short_size} SOL` : "–",
      p.pnl_total != null ? `${Number(p.pnl_total).toFixed(2)} USDC` : "–",
      p.status || "?",
    ]),
  );
  $("#stopped-positions-rows").replaceChildren(...rows);
  const when = kept.as_of ? new Date(kept.as_of).toLocaleString() : "when it stopped";
  $("#stopped-positions-note").textContent = kept.positions.length
    ? `As your bot last reported them (${when}). They stay open on the venues, unwatched until it runs again.`
    : `Your bot held no open position when it stopped (${when}).`;
  box.hidden = false;
}

function renderDepositBot(tenant) {
  const line = $("#deposit-bot");
  if (!tenant) line.textContent = "";
  else if (tenant.status === "running") line.textContent = "Your bot is ready.";
  else if (tenant.status === "failed") line.textContent = `Your bot could not start: ${sentence(tenant.last_error || "unknown error")}`;
  else line.textContent = `Your bot is starting (${seconds(tenant.elapsed_s) || "0 s"}); you can fund it meanwhile.`;
}

function fillProfile(me) {
  $("#pf-email").textContent = me.email;
  $("#pf-solana").textContent = me.solana_address || "being created…";
  $("#pf-evm").textContent = me.evm_address || "being created…";
  const t = me.tenant;
  $("#pf-bot").textContent = t ? `${t.id} · ${t.status}` : "none";
  $(".menu-label").textContent = me.email;
  $(".avatar").textContent = (me.email || "?").slice(0, 1).toUpperCase();
}

/* ------------------------------------------------------------------ the signed-in state machine */

async function follow(me) {
  state.me = me;
  fillProfile(me);
  const tenant = me.tenant;
  renderPill(tenant);
  renderDepositBot(tenant);
  if (tenant && tenant.status === "running") {
    if (state.checkBalance) {
      state.checkBalance = false;
      const r = await api("api/v1/portal/balance");
      if (r.ok && r.data.state === "empty") openDeposit();
    }
    showDashboard(tenant);
    schedule(POLL_RUNNING_MS);
  } else {
    if (state.dashboardFor) unloadDashboard(); // the bot went away: its page would show errors only
    renderProgress(tenant);
    show("progress");
    // A failed or stopped bot is retried by the server on a back-off: keep polling, more slowly.
    schedule(tenant && (tenant.status === "failed" || tenant.status === "stopped") ? 3000 : POLL_STARTING_MS);
  }
}

function schedule(ms) {
  stopPolling();
  state.pollTimer = setTimeout(refresh, ms);
}

function stopPolling() {
  if (state.pollTimer) clearTimeout(state.pollTimer);
  state.pollTimer = null;
}

async function refresh() {
  const r = await api("api/v1/portal/me");
  if (r.status === 401) {
    signedOut(state.me ? "Your session has ended; connect again to continue." : "");
    return;
  }
  if (!r.ok) {
    // The control plane restarting or unreachable: say so and try again, never spin silently.
    renderPill({ status: "failed" });
    $(".pill-text").textContent = "Reconnecting…";
    schedule(3000);
    return;
  }
  await follow(r.data);
}

/* ------------------------------------------------------------------ sign-in dialogs */

function openEmail() {
  const input = $("#email");
  $("#email-error").textContent = "";
  input.removeAttribute("aria-invalid");
  if (state.email) input.value = state.email;
  openDialog($("#dlg-email"), input);
}

function localEmailProblem(value) {
  if (!value) return "Enter your email address.";
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value)) return "An email address looks like name@example.com.";
  return "";
}

/* Sign-in follows Privy's supported path: Privy's own browser SDK (bundled as static/privy-sdk.js
   from portal-sdk/, loaded on first use) sends and checks the code against Privy's auth
   API from this page's origin; the control plane gets only the access token and verifies it. */
let privyClientPromise = null;

function privy() {
  if (!privyClientPromise) {
    privyClientPromise = (async () => {
      const cfg = await api("api/v1/auth/privy/config");
      if (!cfg.ok) throw { status: cfg.status, error: detailText(cfg) };
      const { privyClient } = await import("./privy-sdk.js");
      return privyClient(cfg.data.app_id, cfg.data.auth_url);
    })();
    privyClientPromise.catch(() => {
      privyClientPromise = null; // try again on the next click
    });
  }
  return privyClientPromise;
}

/** A call through Privy's SDK answered like `api()`: `{ok, status, data, headers}`, never throws. */
async function viaPrivy(call) {
  try {
    return { ok: true, status: 200, data: await call(await privy()), headers: new Headers() };
  } catch (err) {
    const status = err && typeof err.status === "number" ? err.status : 0;
    let detail;
    if (status === 429) detail = "Too many attempts; wait a few minutes and try again.";
    else if (err && err.code === "invalid_credentials")
      detail = "That code is wrong or has expired; check the latest email or send a new code.";
    else if (status === 0 && !(err && err.error))
      detail = "The sign-in service cannot be reached; check your connection and try again.";
    else detail = (err && (err.error || err.message)) || `Sign-in failed (${status}).`;
    return { ok: false, status, data: { detail }, headers: new Headers() };
  }
}

async function sendCode(email) {
  return viaPrivy((client) => client.auth.email.sendCode(email));
}

/** The code checked by Privy, then its access token handed to the control plane for a session. */
async function signInWithCode(email, code, remember) {
  const login = await viaPrivy(async (client) => {
    await client.auth.email.loginWithCode(email, code);
    return client.getAccessToken();
  });
  if (!login.ok) return login;
  return api("api/v1/auth/privy/session", { method: "POST", body: { access_token: login.data, remember } });
}

async function onEmailSubmit(ev) {
  ev.preventDefault();
  if (state.busy) return;
  const input = $("#email");
  const error = $("#email-error");
  const email = input.value.trim();
  const problem = localEmailProblem(email);
  if (problem) {
    error.textContent = problem;
    input.setAttribute("aria-invalid", "true");
    input.focus();
    return;
  }
  state.busy = true;
  $("#email-submit").disabled = true;
  try {
    const r = await sendCode(email);
    if (!r.ok) {
      error.textContent = detailText(r);
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    error.textContent = "";
    input.removeAttribute("aria-invalid");
    state.email = email;
    openCode();
  } finally {
    state.busy = false;
    $("#email-submit").disabled = false;
  }
}

function digits() {
  return $$("#code-boxes .digit");
}

function code() {
  return digits()
    .map((d) => d.value)
    .join("");
}

function clearCode() {
  for (const d of digits()) {
    d.value = "";
    d.removeAttribute("aria-invalid");
  }
}

function openCode() {
  $("#code-email").textContent = state.email;
  $("#code-error").textContent = "";
  clearCode();
  startResendCooldown();
  openDialog($("#dlg-code"), digits()[0]);
}

/** Spread a run of digits over the boxes from box `start`; submit once all six are there. */
function fillDigits(start, text) {
  const boxes = digits();
  const got = text.replace(/\D/g, "");
  if (got.length >= boxes.length) start = 0; // a whole code pasted anywhere fills from the first box
  let i = start;
  for (const ch of got) {
    if (i >= boxes.length) break;
    boxes[i].value = ch;
    i += 1;
  }
  boxes[Math.min(i, boxes.length - 1)].focus();
  if (code().length === boxes.length) $("#code-form").requestSubmit();
}

function setupCodeBoxes() {
  for (const box of digits()) {
    const index = Number(box.dataset.i);
    box.addEventListener("paste", (ev) => {
      ev.preventDefault();
      fillDigits(index, (ev.clipboardData || window.clipboardData).getData("text"));
    });
    box.addEventListener("input", () => {
      const value = box.value;
      box.value = "";
      $("#code-error").textContent = "";
      fillDigits(index, value); // one typed digit, or several from autofill
    });
    box.addEventListener("keydown", (ev) => {
      const boxes = digits();
      if (ev.key === "Backspace" && !box.value && index > 0) {
        ev.preventDefault();
        boxes[index - 1].value = "";
        boxes[index - 1].focus();
      } else if (ev.key === "ArrowLeft" && index > 0) {
        ev.preventDefault();
        boxes[index - 1].focus();
      } else if (ev.key === "ArrowRight" && index < boxes.length - 1) {
        ev.preventDefault();
        boxes[index + 1].focus();
      }
    });
    box.addEventListener("focus", () => box.select());
  }
}

function startResendCooldown() {
  state.resendAt = Date.now() + RESEND_COOLDOWN_S * 1000;
  tickResend();
}

function tickResend() {
  const button = $("#btn-resend");
  const left = Math.ceil((state.resendAt - Date.now()) / 1000);
  if (state.resendTimer) clearTimeout(state.resendTimer);
  if (left > 0) {
    button.disabled = true;
    button.textContent = `Resend code in ${left} s`;
    state.resendTimer = setTimeout(tickResend, 1000);
  } else {
    button.disabled = false;
    button.textContent = "Resend code";
    state.resendTimer = null;
  }
}

async function onResend() {
  const r = await sendCode(state.email);
  if (!r.ok) {
    $("#code-error").textContent = detailText(r);
    // A 429 says when: wait that long before offering the button again.
    const wait = Number(r.headers.get("Retry-After"));
    if (r.status === 429 && wait > 0) {
      state.resendAt = Date.now() + wait * 1000;
      tickResend();
    }
    return;
  }
  $("#code-error").textContent = "";
  $("#resend-state").textContent = `A new code is on its way to ${state.email}.`;
  clearCode();
  digits()[0].focus();
  startResendCooldown();
}

async function onCodeSubmit(ev) {
  ev.preventDefault();
  if (state.busy) return;
  const error = $("#code-error");
  const value = code();
  if (!/^\d{6}$/.test(value)) {
    error.textContent = "The code is the 6 digits from the email.";
    digits()[Math.min(value.length, 5)].focus();
    return;
  }
  state.busy = true;
  $("#code-submit").disabled = true;
  try {
    const r = await signInWithCode(state.email, value, $("#remember").checked);
    if (!r.ok) {
      error.textContent = detailText(r); // the server's own sentence: wrong, expired, too many tries
      clearCode();
      for (const d of digits()) d.setAttribute("aria-invalid", "true");
      digits()[0].focus();
      return;
    }
    $("#dlg-code").close();
    $("#resend-state").textContent = "";
    await afterSignIn(r.data);
  } finally {
    state.busy = false;
    $("#code-submit").disabled = false;
  }
}

async function afterSignIn(verified) {
  const r = await api("api/v1/portal/me");
  if (!r.ok) {
    toast(detailText(r), "warning");
    return;
  }
  // A new user funds first; an existing one goes on, unless their bot sees no funds at all.
  state.checkBalance = !verified.is_new;
  await follow(r.data);
  if (verified.is_new) openDeposit();
}

/* ------------------------------------------------------------------ deposit, menu, sign-out */

function openDeposit() {
  const me = state.me;
  if (!me) return;
  for (const chain of ["solana", "evm"]) {
    const address = me[`${chain}_address`] || "";
    $(`#addr-${chain}`).textContent = address || "being created…";
    const img = $(`#qr-${chain}`);
    // The address in the query only keeps one person's QR code from being shown to another.
    const src = `api/v1/portal/qr/${chain}.svg?a=${encodeURIComponent(address)}`;
    if (address && img.getAttribute("src") !== src) img.src = src;
  }
  renderMinimums(me.deposit_minimums || {});
  $("#test-funds").hidden = !me.test_funds;
  renderDepositBot(me.tenant);
  openDialog($("#dlg-deposit"), $("#btn-go-dashboard"));
}

// What each wallet needs at least, in words: below these the bot waits, or a deposit is lost.
function renderMinimums(minimums) {
  const sol = (minimums.solana || {}).SOL;
  $("#min-solana").textContent = sol
    ? `USDC for the long, and at least ${sol} SOL for Solana's fees.`
    : "USDC for the long, and a little SOL for Solana's fees.";
  const evm = minimums.evm || {};
  $("#min-evm").textContent =
    evm.USDC && evm.ETH
      ? `At least ${evm.USDC} USDC (Hyperliquid's bridge loses a smaller deposit), and ${evm.ETH} ETH for gas.`
      : "USDC for the short, and a little ETH for gas.";
}

async function getTestFunds() {
  const button = $("#btn-test-funds");
  const status = $("#test-funds-status");
  button.disabled = true;
  status.textContent = "Asking the devnet's faucet…";
  try {
    const r = await api("api/v1/portal/test-funds", { method: "POST" });
    if (!r.ok) {
      status.textContent = detailText(r);
      return;
    }
    const chain = (name) => name[0].toUpperCase() + name.slice(1);
    const sent = (r.data.sent || []).map((s) => `${s.amount} ${s.asset} on ${chain(s.chain)}`);
    status.textContent = `Sent ${sent.join(", ")}. Your bot sees them within a few seconds.`;
  } finally {
    button.disabled = false;
  }
}

async function copy(button) {
  const text = $(`#${button.dataset.copy}`).textContent.trim();
  let done = false;
  try {
    await navigator.clipboard.writeText(text);
    done = true;
  } catch {
    // Older browsers, or no clipboard permission: copy the selected text instead.
    const range = document.createRange();
    range.selectNodeContents($(`#${button.dataset.copy}`));
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    done = document.execCommand("copy");
  }
  button.textContent = done ? "Copied" : "Select and copy";
  button.dataset.copied = String(done);
  setTimeout(() => {
    button.textContent = "Copy";
    delete button.dataset.copied;
  }, 2000);
}

function openMenu() {
  const list = $("#menu");
  list.hidden = false;
  $("#btn-menu").setAttribute("aria-expanded", "true");
  $$('[role="menuitem"]', list)[0].focus();
}

function closeMenu(focusButton = false) {
  $("#menu").hidden = true;
  $("#btn-menu").setAttribute("aria-expanded", "false");
  if (focusButton) $("#btn-menu").focus();
}

function setupMenu() {
  const button = $("#btn-menu");
  const list = $("#menu");
  button.addEventListener("click", () => (list.hidden ? openMenu() : closeMenu()));
  list.addEventListener("keydown", (ev) => {
    const items = $$('[role="menuitem"]', list);
    const i = items.indexOf(document.activeElement);
    if (ev.key === "ArrowDown") items[(i + 1) % items.length].focus();
    else if (ev.key === "ArrowUp") items[(i - 1 + items.length) % items.length].focus();
    else if (ev.key === "Home") items[0].focus();
    else if (ev.key === "End") items[items.length - 1].focus();
    else if (ev.key === "Escape" || ev.key === "Tab") closeMenu(ev.key === "Escape");
    else return;
    if (ev.key !== "Tab") ev.preventDefault();
  });
  document.addEventListener("click", (ev) => {
    if (!list.hidden && !ev.target.closest(".menu")) closeMenu();
  });
  $("#mi-profile").addEventListener("click", () => {
    closeMenu();
    if (state.me) fillProfile(state.me);
    openDialog($("#dlg-profile"));
  });
  $("#mi-settings").addEventListener("click", () => {
    closeMenu();
    openSettings();
  });
  $("#mi-disconnect").addEventListener("click", () => {
    closeMenu();
    disconnect();
  });
}

function openSettings() {
  const frame = $("#dashboard");
  const tab = state.dashboardFor ? frame.contentDocument?.querySelector("#tab-settings") : null;
  if (tab) {
    tab.click(); // same origin: switch the dashboard's own tab, keeping its state
    frame.focus();
  } else if (state.dashboardFor) {
    frame.src = "app/#settings";
  } else {
    state.wantSettings = true; // shown once the bot is ready
    toast("Your bot's settings open as soon as it is ready.");
  }
}

async function disconnect() {
  const r = await api("api/v1/auth/logout", { method: "POST" });
  if (!r.ok && r.status !== 401) {
    toast(detailText(r), "warning");
    return;
  }
  signedOut("You are disconnected.");
  await api("api/v1/auth/csrf"); // a fresh anonymous token for the next sign-in
}

/* ------------------------------------------------------------------ start-up */

async function retryStart() {
  const button = $("#btn-retry");
  button.disabled = true;
  try {
    const r = await api("api/v1/portal/bot/start", { method: "POST" });
    if (!r.ok) {
      $("#progress-error-text").textContent = detailText(r);
      return;
    }
    await follow({ ...state.me, tenant: r.data });
  } finally {
    button.disabled = false;
  }
}

async function main() {
  for (const dialog of $$("dialog")) setupDialog(dialog);
  setupCodeBoxes();
  setupMenu();
  $("#btn-connect").addEventListener("click", openEmail);
  $("#btn-connect-hero").addEventListener("click", openEmail);
  $("#email-form").addEventListener("submit", onEmailSubmit);
  $("#code-form").addEventListener("submit", onCodeSubmit);
  $("#btn-resend").addEventListener("click", onResend);
  $("#btn-other-email").addEventListener("click", openEmail);
  $("#btn-deposit").addEventListener("click", openDeposit);
  $("#btn-go-dashboard").addEventListener("click", () => {
    $("#dlg-deposit").close();
    if (state.me) follow(state.me);
  });
  $("#btn-retry").addEventListener("click", retryStart);
  $("#btn-test-funds").addEventListener("click", getTestFunds);
  for (const button of $$("[data-copy]")) button.addEventListener("click", () => copy(button));

  // The CSRF cookie first: every sign-in request after this carries it back as a header.
  const csrf = await api("api/v1/auth/csrf");
  if (!csrf.ok) toast("The server cannot be reached; reload the page in a moment.", "warning");
  const r = await api("api/v1/portal/me");
  if (r.status === 401) signedOut();
  else if (r.ok) await follow(r.data);
  else {
    signedOut();
    toast(detailText(r), "warning");
  }
  document.body.dataset.ready = "true";
}

main();
