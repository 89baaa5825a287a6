// A small line chart in inline SVG: no library, sized to its box, with a hover read-out.

const NS = "http://www.w3.org/2000/svg";
const PAD = { left: 58, right: 12, top: 12, bottom: 24 };

function el(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceTime(t, spanMs) {
  const d = new Date(t);
  if (spanMs > 2 * 86400e3) return d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
  return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", hour12: false });
}

/**
 * Draw `points` ([{at, value}], value a decimal string) into `box`; `format` turns a number into
 * the axis and read-out text; `label` describes the series for screen readers.
 */
export function drawChart(box, points, { format, label }) {
  box.replaceChildren();
  const data = points
    .map((p) => ({ t: new Date(p.at).getTime(), v: Number(p.value) }))
    .filter((p) => Number.isFinite(p.t) && Number.isFinite(p.v))
    .sort((a, b) => a.t - b.t);
  if (data.length < 2) {
    box.setAttribute("aria-label", `${label}: not enough data yet`);
    const empty = document.createElement("div");
    empty.className = "empty";
    empty.textContent = data.length ? `${format(data[0].v)} — more points soon` : "No data yet";
    box.append(empty);
    return;
  }
  const width = Math.max(box.clientWidth, 200);
  const height = Math.max(box.clientHeight, 120);
  let lo = Math.min(...data.map((p) => p.v));
  let hi = Math.max(...data.map((p) => p.v));
  if (hi === lo) {
    const pad = Math.abs(hi) * 0.1 || 1e-6;
    lo -= pad;
    hi += pad;
  }
  const t0 = data[0].t;
  const t1 = data[data.length - 1].t;
  const x = (t) => PAD.left + ((t - t0) / (t1 - t0 || 1)) * (width - PAD.left - PAD.right);
  const y = (v) => PAD.top + (1 - (v - lo) / (hi - lo)) * (height - PAD.top - PAD.bottom);

  const last = data[data.length - 1];
  box.setAttribute(
    "aria-label",
    `${label}: ${data.length} points from ${format(lo)} to ${format(hi)}, latest ${format(last.v)}`,
  );
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, width, height, "aria-hidden": "true" });
  const defs = el("defs");
  const grad = el("linearGradient", { id: "chart-fill", x1: 0, y1: 0, x2: 0, y2: 1 });
  grad.append(
    el("stop", { offset: "0%", "stop-color": "#4fd1a5", "stop-opacity": 0.28 }),
    el("stop", { offset: "100%", "stop-color": "#4fd1a5", "stop-opacity": 0 }),
  );
  defs.append(grad);
  svg.append(defs);

  for (const v of [lo, (lo + hi) / 2, hi]) {
    svg.append(el("line", { class: "axis", x1: PAD.left, x2: width - PAD.right, y1: y(v), y2: y(v) }));
    svg.append(el("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end" }, format(v)));
  }
  if (lo < 0 && hi > 0) {
    svg.append(el("line", { class: "zero", x1: PAD.left, x2: width - PAD.right, y1: y(0), y2: y(0) }));
  }
  svg.append(el("text", { x: PAD.left, y: height - 6 }, niceTime(t0, t1 - t0)));
  svg.append(el("text", { x: width - PAD.right, y: height - 6, "text-anchor": "end" }, niceTime(t1, t1 - t0)));

  const line = data.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join("");
  const base = y(Math.max(lo, Math.min(0, hi)));
  svg.append(
    el("path", {
      class: "area",
      d: `${line}L${x(last.t).toFixed(1)},${base}L${x(t0).toFixed(1)},${base}Z`,
    }),
  );
  svg.append(el("path", { class: "line", d: line }));

  // Hover read-out: nearest point to the pointer.
  const cursor = el("g", { visibility: "hidden" });
  const vline = el("line", { class: "axis", y1: PAD.top, y2: height - PAD.bottom });
  const dot = el("circle", { r: 4, fill: "#4fd1a5" });
  const tip = el("text", { y: PAD.top + 10, "text-anchor": "middle", fill: "#e6edf5" });
  cursor.append(vline, dot, tip);
  svg.append(cursor);
  svg.addEventListener("pointermove", (ev) => {
    const rect = svg.getBoundingClientRect();
    const px = ((ev.clientX - rect.left) / rect.width) * width;
    let best = data[0];
    for (const p of data) if (Math.abs(x(p.t) - px) < Math.abs(x(best.t) - px)) best = p;
    const cx = x(best.t);
    vline.setAttribute("x1", cx);
    vline.setAttribute("x2", cx);
    dot.setAttribute("cx", cx);
    dot.setAttribute("cy", y(best.v));
    tip.setAttribute("x", Math.min(Math.max(cx, PAD.left + 60), width - 60));
    tip.textContent = `${format(best.v)} · ${niceTime(best.t, t1 - t0)}`;
    cursor.setAttribute("visibility", "visible");
  });
  svg.addEventListener("pointerleave", () => cursor.setAttribute("visibility", "hidden"));
  box.append(svg);
}
