// The "Over the recorded window" card: what the settings in force (or the leverage on the slider)
// would have done over the history the bot ships, from GET api/v1/backtest. The bot computes a
// setting's run once (a few seconds) and answers 202 meanwhile: the card says so and asks again.

import { api } from "./api.js";
import { DASH, money, pct, signedMoney } from "./format.js";

const $ = (sel) => document.querySelector(sel);
const card = $("#backtest");
let asked = ""; // the query of the latest ask; older answers are dropped
let timer = null;

function setText(node, text, tone) {
  node.textContent = text;
  node.classList.remove("pos", "neg");
  if (tone) node.classList.add(tone);
}

const toneOf = (n) => (n > 0 ? "pos" : n < 0 ? "neg" : "");

function render(run) {
  const lev = Number(run.settings.leverage).toFixed(1);
  setText($("#backtest-window"), `${run.start.slice(0, 10)} to ${run.end.slice(0, 10)}`);
  setText(
    $("#backtest-state"),
    `${money(run.settings.capital_usd)} at ${lev}x, entering above ${pct(run.settings.min_entry_net_apy)} net APY`,
  );
  const net = Number(run.annualised_return);
  setText($("#backtest-net"), pct(net), toneOf(net));
  for (const [key, value] of Object.entries(run.waterfall_usd)) {
    const cell = card.querySelector(`[data-w="${key}"]`);
    if (cell) setText(cell, signedMoney(value), toneOf(Number(value)));
  }
  setText(card.querySelector('[data-w="net"]'), signedMoney(run.net_usd), toneOf(Number(run.net_usd)));
  setText(card.querySelector('[data-b="drawdown"]'), pct(run.max_drawdown));
  setText(card.querySelector('[data-b="liquidations"]'), String(run.liquidations), run.liquidations ? "neg" : "");
  setText(card.querySelector('[data-b="reductions"]'), String(run.counts.reductions || 0));
  setText(card.querySelector('[data-b="out"]'), Number(run.days_out_of_market).toFixed(1));
  const chart = $("#backtest-chart");
  chart.alt = `Each leg's equity, the total, SOL's price and the bot's events at ${lev}x over the window`;
  chart.src = `api/v1/backtest.svg?${asked}`;
  chart.hidden = false;
  setText($("#backtest-scope"), run.scope);
  card.setAttribute("aria-busy", "false");
}

async function ask(query) {
  clearTimeout(timer);
  asked = query;
  card.setAttribute("aria-busy", "true");
  try {
    const answer = await api(`backtest${query ? `?${query}` : ""}`);
    if (query !== asked) return;
    if (answer.state === "done") {
      render(answer);
      return;
    }
    const done = Math.round(Number(answer.progress) * 100);
    setText($("#backtest-state"), `Computing what ${Number(answer.settings.leverage).toFixed(1)}x would have done… ${done}%`);
    timer = setTimeout(() => ask(query), 1500);
  } catch (err) {
    if (query !== asked) return;
    setText($("#backtest-state"), err.message);
    setText($("#backtest-net"), DASH);
    card.setAttribute("aria-busy", "false");
  }
}

// The settings in force first, and again whenever they are saved (app.js tells); the slider's
// leverage once the user lets go of it.
const slider = $("#leverage");
slider.addEventListener("change", () => ask(`leverage=${Number(slider.value).toFixed(1)}`));
document.addEventListener("basis:settings-applied", () => ask(""));
ask("");
