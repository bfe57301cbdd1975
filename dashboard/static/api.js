// The API client. The session lives in an HttpOnly cookie set by POST /api/auth/login (never in
// localStorage); every change sends the X-Requested-With header the server's CSRF rule asks for.

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
    this.detail = detail;
  }
}

let onUnauthorized = () => {};

export function whenLoggedOut(handler) {
  onUnauthorized = handler;
}

export async function api(path, { method = "GET", body, query } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value != null && value !== "") url.searchParams.set(name, value);
  }
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-Requested-With"] = "eldercare";
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401 && path !== "/api/auth/login") {
    onUnauthorized();
    throw new ApiError(401, "not logged in");
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data?.detail ?? response.statusText);
  return data;
}

/** Every page of a `{data, count}` list endpoint. */
export async function apiAll(path, query = {}, limit = 100) {
  const rows = [];
  for (let offset = 0; ; offset += limit) {
    const page = await api(path, { query: { ...query, offset, limit } });
    rows.push(...page.data);
    if (rows.length >= page.count || page.data.length === 0) return rows;
  }
}
