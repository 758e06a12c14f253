// Reading the gateway's /metrics (Prometheus text format 0.0.4): samples by name.
// Counters only ever grow within one gateway run, so rates are the difference of two
// scrapes divided by the time between them; a counter that went down means a restart.

export function parseMetrics(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    for (const [, k, v] of (m[2] || "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[k] = v.replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
    }
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

function sum(samples, name, keep = () => true) {
  return samples.filter((s) => s.name === name && keep(s.labels)).reduce((a, s) => a + s.value, 0);
}

// The counters the overview turns into rates.
export function snapshot(samples, at) {
  const buckets = samples
    .filter((s) => s.name === "tenant_proxy_overhead_seconds_bucket")
    .map((s) => [s.labels.le === "+Inf" ? Infinity : Number(s.labels.le), s.value])
    .sort((a, b) => a[0] - b[0]);
  return {
    at,
    requests: sum(samples, "tenant_proxy_requests_total"),
    errors: sum(samples, "tenant_proxy_requests_total", (l) => Number(l.status) >= 500),
    refused: sum(samples, "tenant_proxy_requests_total", (l) => Number(l.status) >= 400 && Number(l.status) < 500),
    overheadSum: sum(samples, "tenant_proxy_overhead_seconds_sum"),
    overheadCount: sum(samples, "tenant_proxy_overhead_seconds_count"),
    buckets,
    inFlight: sum(samples, "tenant_proxy_in_flight_requests"),
  };
}

// Rates between two snapshots; null when there is nothing to divide.
export function rates(before, after) {
  const seconds = (after.at - before.at) / 1000;
  const requests = after.requests - before.requests;
  if (seconds <= 0 || requests < 0) return null;
  const count = after.overheadCount - before.overheadCount;
  return {
    requestsPerSecond: requests / seconds,
    errorRate: requests > 0 ? (after.errors - before.errors) / requests : null,
    refusedRate: requests > 0 ? (after.refused - before.refused) / requests : null,
    overheadMeanMs: count > 0 ? ((after.overheadSum - before.overheadSum) / count) * 1000 : null,
    overheadP95Ms: count > 0 ? quantile(before.buckets, after.buckets, count, 0.95) : null,
    inFlight: after.inFlight,
  };
}

// The upper bound of the bucket holding the q-th request of the interval.
function quantile(before, after, count, q) {
  const old = new Map(before);
  const rank = q * count;
  for (const [le, value] of after) {
    if (value - (old.get(le) || 0) >= rank) return Number.isFinite(le) ? le * 1000 : null;
  }
  return null;
}
