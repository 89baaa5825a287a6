// Number formatting and exact decimal-string helpers. Values arrive as Decimal strings; they are
// turned into numbers for display only, never for anything sent back.

const usd = new Intl.NumberFormat("en-US", {
  style: "currency",
  currency: "USD",
  minimumFractionDigits: 2,
  maximumFractionDigits: 2,
});
const plain = new Intl.NumberFormat("en-US", { maximumFractionDigits: 4 });

export const DASH = "—";

function toNumber(value) {
  if (value === null || value === undefined || value === "") return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

/** $1,234.56 (two decimals). */
export function money(value) {
  const n = toNumber(value);
  return n === null ? DASH : usd.format(n);
}

/** +$1.23 / -$1.23: signed amounts such as PnL. */
export function signedMoney(value) {
  const n = toNumber(value);
  if (n === null) return DASH;
  const text = usd.format(Math.abs(n));
  if (Math.abs(n) < 0.005) return usd.format(0);
  return (n > 0 ? "+" : "-") + text;
}

/** A fraction as a percentage: 0.1234 -> "12.34%". */
export function pct(value, digits = 2) {
  const n = toNumber(value);
  return n === null ? DASH : `${(n * 100).toFixed(digits)}%`;
}

/** A signed percentage: +1.23% / -0.45%. */
export function signedPct(value, digits = 2) {
  const n = toNumber(value);
  if (n === null) return DASH;
  const text = (n * 100).toFixed(digits);
  if (Number(text) === 0) return `${(0).toFixed(digits)}%`;
  return `${n > 0 ? "+" : ""}${text}%`;
}

/** A plain quantity (token sizes, prices without currency). */
export function qty(value, digits = 4) {
  const n = toNumber(value);
  if (n === null) return DASH;
  return new Intl.NumberFormat("en-US", { maximumFractionDigits: digits }).format(n);
}

export function price(value) {
  const n = toNumber(value);
  if (n === null) return DASH;
  return usd.format(n);
}

export function number(value) {
  const n = toNumber(value);
  return n === null ? DASH : plain.format(n);
}

/** "positive" / "negative" / "" for colouring (always with a sign or a word too). */
export function tone(value) {
  const n = toNumber(value);
  if (n === null || Math.abs(n) < 1e-12) return "";
  return n > 0 ? "pos" : "neg";
}

export function time(iso) {
  if (!iso) return DASH;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return DASH;
  return d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

export function clock(iso) {
  if (!iso) return DASH;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? DASH : d.toLocaleTimeString(undefined, { hour12: false });
}

export function ago(iso, now = Date.now()) {
  if (!iso) return DASH;
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return DASH;
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

export function shortAddress(address) {
  if (!address || address.length < 14) return address || DASH;
  return `${address.slice(0, 6)}…${address.slice(-4)}`;
}

const PROTOCOLS = { kamino: "Kamino", marginfi: "marginfi", solend: "Solend", drift: "Drift" };
export function protocolLabel(p) {
  return PROTOCOLS[p] || p || DASH;
}

/**
 * Move the decimal point of a decimal string exactly (no floating point):
 * shiftDecimal("5", -2) === "0.05", shiftDecimal("0.05", 2) === "5". Returns null when the text is
 * not a plain decimal number.
 */
export function shiftDecimal(text, places) {
  const m = /^\s*([+-]?)(\d*)(?:\.(\d*))?\s*$/.exec(String(text));
  if (!m) return null;
  const sign = m[1];
  const int = m[2] || "";
  const frac = m[3] || "";
  if (int === "" && frac === "") return null;
  let digits = int + frac;
  let point = int.length + places;
  if (point < 0) {
    digits = "0".repeat(-point) + digits;
    point = 0;
  }
  if (point > digits.length) digits += "0".repeat(point - digits.length);
  const whole = digits.slice(0, point).replace(/^0+(?=\d)/, "") || "0";
  const part = digits.slice(point).replace(/0+$/, "");
  const body = whole + (part ? `.${part}` : "");
  return sign === "-" && body !== "0" ? `-${body}` : body;
}
