// One tenant: usage over a chosen range (charts per day split by model, a table per
// model), budget and limits, proxy tokens (mint, shown once; revoke), its document.
import { api, daysBefore, daysBetween, query, tenantPath, todayUTC, usage } from "../api.js";
import { color, drawChart } from "../charts.js";
import { clear, formatCount, formatTime, formatUSD, h, status } from "../dom.js";
import { documentEditor } from "../editor.js";
import { spendBar } from "../spend.js";
import { tokensSection } from "./tokens.js";

const DEFAULT_DAYS = 14;
const NO_MODEL = "(none)"; // requests that named no model (the API's key for them)

export function tenantPage(id, params) {
  const end = params.get("end") || todayUTC();
  const start = params.get("start") || daysBefore(end, DEFAULT_DAYS - 1);
  const page = h("section", { "aria-labelledby": "tenant-title" },
    h("p", { class: "crumbs" }, h("a", { href: "#/tenants" }, "Tenants"), " / "),
    h("h1", { id: "tenant-title" }, id));
  const content = h("div", {}, status("Loading…"));
  page.append(content);

  api("GET", tenantPath(id)).then(
    (tenant) => {
      const limits = h("section", { class: "card", "aria-labelledby": "limits-title" });
      const showLimits = (t, u) => clear(limits, limitsView(t, u));
      const usageView = usageSection(id, start, end, (u) => showLimits(tenant, u));
      showLimits(tenant, null);
      clear(content,
        h("p", { class: "meta" }, `Created ${formatTime(tenant.created_at)} · updated ${formatTime(tenant.updated_at)}`),
        usageView,
        h("div", { class: "columns" }, limits, tokensSection(id)),
        documentEditor(id, tenant, { saved: (t) => { tenant = t; showLimits(t, usageView.lastUsage); } }));
    },
    (e) => clear(content, status(e.status === 404 ? `No tenant "${id}".` : `Could not load the tenant: ${e.message}`, "error")),
  );
  return page;
}

function usageSection(id, start, end, loaded) {
  const startInput = h("input", { id: "range-start", type: "date", value: start, max: end, required: true });
  const endInput = h("input", { id: "range-end", type: "date", value: end, required: true });
  const form = h("form", { class: "range", on: { submit: (e) => {
    e.preventDefault();
    if (startInput.value > endInput.value) return;
    window.location.hash = `#/tenants/${encodeURIComponent(id)}${query({ start: startInput.value, end: endInput.value })}`;
  } } },
  h("label", { for: "range-start" }, "From"), startInput,
  h("label", { for: "range-end" }, "to"), endInput,
  h("button", { type: "submit" }, "Show"));
  const costCanvas = h("canvas", { id: "chart-cost", role: "img", "aria-label": "Cost per day by model" });
  const requestsCanvas = h("canvas", { id: "chart-requests", role: "img", "aria-label": "Requests per day by model" });
  const table = h("div", { class: "table-wrap" }, status("Loading usage…"));
  const section = h("section", { class: "card", "aria-labelledby": "usage-title" },
    h("h2", { id: "usage-title" }, `Usage ${start} to ${end} (UTC)`), form,
    h("div", { class: "charts" },
      h("figure", {}, h("figcaption", {}, "Cost per day (USD)"), h("div", { class: "chart-box" }, costCanvas)),
      h("figure", {}, h("figcaption", {}, "Requests per day"), h("div", { class: "chart-box" }, requestsCanvas))),
    h("h3", {}, "By model"), table);

  Promise.all([usage(id, start, end, "day,model"), usage(id, start, end, "model")]).then(
    ([daily, byModel]) => {
      const days = daysBetween(start, end);
      drawDaily(costCanvas, "cost", days, daily, "cost_usd");
      drawDaily(requestsCanvas, "requests", days, daily, "requests");
      clear(table, modelTable(byModel));
      section.lastUsage = byModel;
      loaded(byModel);
    },
    (e) => clear(table, status(`Could not load the usage: ${e.message}`, "error")),
  );
  return section;
}

// One dataset per model, one bar per day: each value is the API's group for that
// (day, model), or a gap where it has none.
function drawDaily(canvas, name, days, report, field) {
  const groups = (report?.groups || []).map((g) => ({ ...g, model: g.model ?? NO_MODEL }));
  const models = [...new Set(groups.map((g) => g.model))].sort();
  const datasets = models.map((model, i) => {
    const byDay = new Map(groups.filter((g) => g.model === model).map((g) => [g.day, g[field]]));
    return { label: model, data: days.map((d) => byDay.get(d) ?? null), backgroundColor: color(i), stack: "models" };
  });
  drawChart(canvas, name, {
    type: "bar",
    data: { labels: days, datasets },
    options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } },
  });
}

function modelTable(report) {
  if (!report || report.groups.length === 0) return status("No requests in this range.");
  const cells = (g) => [
    h("td", { class: "num" }, formatCount(g.requests)),
    h("td", { class: "num" }, formatCount(g.input_tokens)),
    h("td", { class: "num" }, formatCount(g.output_tokens)),
    h("td", { class: "num" }, formatCount(g.cached_tokens)),
    h("td", { class: "num" }, formatUSD(g.cost_usd)),
    h("td", { class: "num" }, formatCount(g.unpriced_requests)),
  ];
  const t = report.total;
  return h("table", { id: "model-table" },
    h("thead", {}, h("tr", {}, ["Model", "Requests", "Input tokens", "Output tokens", "Cached tokens", "Cost", "Unpriced"]
      .map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, report.groups.map((g) => h("tr", { "data-model": g.key }, h("th", { scope: "row" }, g.key), cells(g)))),
    h("tfoot", {}, h("tr", {}, h("th", { scope: "row" }, "Total"), cells(t)),
      h("tr", {}, h("th", { scope: "row" }, "Refused by the proxy"), h("td", { class: "num", colspan: 6 }, formatCount(t.refused)))));
}

function limitsView(tenant, report) {
  const budget = report?.budget;
  const rows = [
    ["Monthly budget", tenant.budget?.monthly_usd !== undefined ? formatUSD(tenant.budget.monthly_usd) : "none"],
    ["Spent this month", budget ? spendBar(budget) : "—"],
    ["Reserved now", budget ? formatUSD(budget.reserved_usd) : "—"],
    ["Requests per minute", tenant.limits?.rpm !== undefined ? formatCount(tenant.limits.rpm) : "no limit"],
    ["Tokens per minute", tenant.limits?.tpm !== undefined ? formatCount(tenant.limits.tpm) : "no limit"],
  ];
  return [
    h("h2", { id: "limits-title" }, budget ? `Budget and limits (${budget.month})` : "Budget and limits"),
    h("dl", { class: "facts", id: "limits" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
  ];
}
