// Overview: requests per second, error rate and proxy overhead from the gateway's
// /metrics (no key needed, same origin), scraped every few seconds.
import { METRICS } from "../api.js";
import { drawChart, forgetChart } from "../charts.js";
import { clear, h, status } from "../dom.js";
import { parseMetrics, rates, snapshot } from "../metrics.js";

const EVERY_MS = 3000;
const KEEP = 100; // points on the chart: five minutes

export function overviewPage() {
  const figures = h("dl", { class: "figures", id: "overview-figures" });
  const note = h("div", {}, status("Reading /metrics…"));
  const canvas = h("canvas", { id: "chart-rate", role: "img", "aria-label": "Requests per second and error rate" });
  const labels = [];
  const perSecond = [];
  const errorPercent = [];
  const chart = drawChart(canvas, "overview", {
    type: "line",
    data: { labels, datasets: [
      { label: "requests/s", data: perSecond, borderColor: "#2457a6", yAxisID: "y", pointRadius: 0 },
      { label: "5xx %", data: errorPercent, borderColor: "#b8336a", yAxisID: "errors", pointRadius: 0 },
    ] },
    options: { scales: { y: { beginAtZero: true, position: "left" }, errors: { beginAtZero: true, max: 100, position: "right", grid: { drawOnChartArea: false } } } },
  });
  let last = null;
  let timer = null;

  async function scrape() {
    try {
      const response = await fetch(METRICS, { cache: "no-store", credentials: "omit" });
      if (!response.ok) throw new Error(`/metrics answered ${response.status}`);
      const now = snapshot(parseMetrics(await response.text()), Date.now());
      const r = last ? rates(last, now) : null;
      last = now;
      clear(note, status(`Updated ${new Date(now.at).toISOString().slice(11, 19)} UTC, every ${EVERY_MS / 1000} s.`));
      if (r) show(r, now);
    } catch (e) {
      clear(note, status(`Could not read /metrics: ${e.message}`, "error"));
    } finally {
      timer = window.setTimeout(scrape, EVERY_MS);
    }
  }

  function show(r, now) {
    const fixed = (v, digits, unit = "") => (v === null ? "—" : `${v.toFixed(digits)}${unit}`);
    const items = [
      ["Requests per second", fixed(r.requestsPerSecond, 2)],
      ["Error rate (5xx)", fixed(r.errorRate === null ? null : r.errorRate * 100, 1, " %")],
      ["Refused (4xx)", fixed(r.refusedRate === null ? null : r.refusedRate * 100, 1, " %")],
      ["Proxy overhead, mean", fixed(r.overheadMeanMs, 2, " ms")],
      ["Proxy overhead, p95 ≤", fixed(r.overheadP95Ms, 2, " ms")],
      ["In flight", String(r.inFlight)],
    ];
    clear(figures, items.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v))));
    labels.push(new Date(now.at).toISOString().slice(11, 19));
    perSecond.push(r.requestsPerSecond);
    errorPercent.push(r.errorRate === null ? null : r.errorRate * 100);
    if (labels.length > KEEP) [labels, perSecond, errorPercent].forEach((a) => a.shift());
    chart.update();
  }

  scrape();
  return {
    el: h("section", { "aria-labelledby": "overview-title" },
      h("h1", { id: "overview-title" }, "Overview"),
      h("p", { class: "hint" }, "The whole gateway (every worker), from /metrics; rates over the last interval."),
      note, figures,
      h("div", { class: "chart-box wide" }, canvas)),
    stop: () => { window.clearTimeout(timer); forgetChart("overview"); },
  };
}
