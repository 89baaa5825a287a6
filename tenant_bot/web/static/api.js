// The bot's API, through relative URLs so the page works under any proxy prefix.

export class ApiError extends Error {
  constructor(status, detail) {
    super(describe(detail) || `The bot answered ${status}.`);
    this.status = status;
    this.detail = detail;
  }
}

// Behind the control plane, every state-changing request carries its CSRF token (double submit:
// the control plane sets the readable `basis_csrf` cookie). Served by a bot alone there is none.
function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)basis_csrf=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : null;
}

export async function api(path, { method = "GET", body } = {}) {
  const init = { method, headers: { Accept: "application/json" } };
  const csrf = method === "GET" ? null : csrfToken();
  if (csrf) init.headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(`api/v1/${path}`, init);
  } catch {
    throw new ApiError(0, "The bot cannot be reached; retrying.");
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) throw new ApiError(res.status, data && data.detail !== undefined ? data.detail : text);
  return data;
}

function cleanMessage(msg) {
  // Pydantic prefixes custom errors with "Value error, "; the sentence after it is ours.
  return String(msg || "").replace(/^(Value|Assertion) error,\s*/i, "");
}

/** One sentence for any error detail (a string, or FastAPI's list of field errors). */
export function describe(detail) {
  if (detail === null || detail === undefined) return "";
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((e) => `${fieldKey(e.loc) || "request"}: ${cleanMessage(e.msg)}`).join("; ");
  }
  return JSON.stringify(detail);
}

function fieldKey(loc) {
  const parts = (loc || []).filter((p) => p !== "body" && p !== "query" && p !== "path");
  while (parts.length && typeof parts[parts.length - 1] === "number") parts.pop();
  return parts.join(".");
}

/** FastAPI 422 details as a Map of dotted field path -> message. */
export function fieldErrors(detail) {
  const out = new Map();
  if (!Array.isArray(detail)) return out;
  for (const e of detail) {
    const key = fieldKey(e.loc);
    if (!out.has(key)) out.set(key, cleanMessage(e.msg));
  }
  return out;
}
