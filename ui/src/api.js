// The management API (SPEC 7) with the admin key from this tab's sessionStorage.
// Paths are relative to where the page is served (<gateway>/admin/ui/), so the
// page only ever talks to the gateway that served it.

const KEY = "tenant-proxy.admin-key";
const ADMIN = new URL("../", window.location.href).pathname; // "/admin/"
export const METRICS = new URL("../../metrics", window.location.href).pathname;

export class ApiError extends Error {
  constructor(status, body) {
    const error = body && typeof body === "object" ? body.error || {} : {};
    super(error.message || `The gateway answered ${status}.`);
    this.status = status;
    this.code = error.code || null;
    this.param = error.param ?? null;
  }
}

export const session = {
  key: () => window.sessionStorage.getItem(KEY),
  signIn: (key) => window.sessionStorage.setItem(KEY, key),
  signOut: () => window.sessionStorage.removeItem(KEY),
};

// Called when the gateway refuses the stored key (it was changed, or never right).
let onUnauthorized = () => {};
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

export async function api(method, path, body, { key = session.key() } = {}) {
  const headers = { Authorization: `Bearer ${key}`, Accept: "application/json" };
  const init = { method, headers, cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(ADMIN + path.replace(/^\//, ""), init);
  if (response.status === 204) return null;
  const doc = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new ApiError(response.status, doc);
    if (response.status === 401 && key === session.key()) onUnauthorized(error);
    throw error;
  }
  return doc;
}

export function tenantPath(id, rest = "") {
  return `tenants/${encodeURIComponent(id)}${rest}`;
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") q.set(name, value);
  }
  const text = q.toString();
  return text ? `?${text}` : "";
}

// GET /admin/tenants/{id}/usage (SPEC 8.1); null when the tenant has no usage at all.
export async function usage(id, start, end, groupBy) {
  try {
    return await api("GET", tenantPath(id, "/usage") + query({ start, end, group_by: groupBy }));
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}

// Calls fn on each item, at most `width` at a time (a page of tenants asks for each
// one's usage without opening dozens of connections at once).
export async function eachLimited(items, width, fn) {
  const results = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  }
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return results;
}

export function todayUTC() {
  return new Date().toISOString().slice(0, 10);
}

export function daysBefore(day, n) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() - n);
  return d.toISOString().slice(0, 10);
}

// The calendar days from start to end inclusive (the chart's axis, not a figure).
export function daysBetween(start, end) {
  const days = [];
  for (let d = start; d <= end && days.length < 400; d = daysBefore(d, -1)) days.push(d);
  return days;
}
