// Requests to the control plane: same origin, relative URLs, the CSRF token on every state change.

// The control plane sets the readable `basis_csrf` cookie (GET api/v1/auth/csrf, and again at
// sign-in); a state-changing request repeats it in a header (double submit).
export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)basis_csrf=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

/** `{ok, status, data, headers}`; never throws: a network failure is status 0 with a sentence. */
export async function api(path, { method = "GET", body } = {}) {
  const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (method !== "GET") init.headers["X-CSRF-Token"] = csrfToken();
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    return {
      ok: false,
      status: 0,
      data: { detail: "The server cannot be reached; check your connection and try again." },
      headers: new Headers(),
    };
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { detail: text };
  }
  return { ok: res.ok, status: res.status, data, headers: res.headers };
}

function clean(msg) {
  // Pydantic prefixes custom errors with "Value error, "; the sentence after it is ours.
  return String(msg || "").replace(/^(Value|Assertion) error,\s*/i, "");
}

/** One sentence for an error answer: the server's own `detail`, or a plain fallback. */
export function detailText(r) {
  const detail = r.data && r.data.detail !== undefined ? r.data.detail : null;
  if (typeof detail === "string" && detail) return detail;
  if (Array.isArray(detail) && detail.length) return detail.map((e) => clean(e.msg)).join(" ");
  if (r.status === 429) return "Too many attempts; wait a few minutes and try again.";
  if (r.status >= 500) return "The server had a problem; try again in a minute.";
  return `The request failed (${r.status}).`;
}
