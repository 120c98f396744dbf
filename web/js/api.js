// REST client: JSON in, JSON out; failures carry the daemon's own error.message, shown as is.

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

/**
 * api("GET", "/api/v1/boards") -> parsed body. body: object (sent as JSON), or a Blob/File/
 * ArrayBuffer (sent raw as application/octet-stream). Throws ApiError.
 */
export async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body instanceof Blob || body instanceof ArrayBuffer) {
    init.body = body;
    init.headers["content-type"] = "application/octet-stream";
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["content-type"] = "application/json";
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, "unreachable", `corrald is not answering (${e.message}).`);
  }
  const text = await res.text();
  let parsed = null;
  if (text && (res.headers.get("content-type") || "").includes("json")) {
    try { parsed = JSON.parse(text); } catch { parsed = null; }
  }
  if (res.status === 401 && path !== "/api/v1/login") {
    // corrald wants a token: the login box (login.js) listens for this.
    window.dispatchEvent(new CustomEvent("corral:auth-required"));
  }
  if (!res.ok) {
    const e = parsed && parsed.error;
    if (e && typeof e.message === "string") throw new ApiError(res.status, e.code, e.message, e.details);
    throw new ApiError(res.status, "http_" + res.status, `${method} ${path}: HTTP ${res.status} ${text.slice(0, 200)}`);
  }
  return parsed ?? text;
}

export const FINAL_STATES = new Set(["succeeded", "failed", "cancelled", "interrupted"]);
export const isFinal = (state) => FINAL_STATES.has(state);

/** ws://host/path on this page's origin. */
export function wsUrl(path) {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
}
