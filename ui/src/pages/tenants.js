// Tenants: one page at a time through next_cursor, a search over all pages, sorting
// of the rows shown; per tenant this month's spend against its budget and today's
// requests and tokens, each as the usage endpoint states it.
import { api, eachLimited, query, tenantPath, todayUTC, usage } from "../api.js";
import { clear, formatCount, formatTime, h, status } from "../dom.js";
import { spendBar } from "../spend.js";

const PAGE = 25;
const SEARCH_PAGE = 1000; // the API's largest page
const SEARCH_MAX_PAGES = 20; // a search reads at most 20,000 tenants

const COLUMNS = [
  { key: "tenant_id", label: "Tenant", value: (r) => r.tenant.tenant_id },
  { key: "spend", label: "Spend this month", value: (r) => r.usage?.budget?.spent_usd ?? -1 },
  { key: "requests", label: "Requests today", value: (r) => r.usage?.total?.requests ?? -1 },
  { key: "input_tokens", label: "Input tokens today", value: (r) => r.usage?.total?.input_tokens ?? -1 },
  { key: "output_tokens", label: "Output tokens today", value: (r) => r.usage?.total?.output_tokens ?? -1 },
  { key: "created_at", label: "Created", value: (r) => r.tenant.created_at },
];

export function tenantsPage(params) {
  const state = {
    cursors: [null], // the cursor of each page seen, for "Previous"
    sort: params.get("sort") || "tenant_id",
    descending: params.get("order") === "desc",
    search: params.get("q") || "",
    rows: [],
    next: null,
  };
  const body = h("div", { id: "tenants-body" });
  const searchInput = h("input", {
    id: "tenant-search",
    type: "search",
    value: state.search,
    placeholder: "tenant id contains…",
    autocomplete: "off",
  });
  const searchForm = h(
    "form",
    { class: "search", role: "search", on: { submit: (e) => { e.preventDefault(); runSearch(); } } },
    h("label", { for: "tenant-search" }, "Search tenants"),
    searchInput,
    h("button", { type: "submit" }, "Search"),
    h("button", { type: "button", on: { click: () => { searchInput.value = ""; runSearch(); } } }, "Clear"),
  );

  async function runSearch() {
    state.search = searchInput.value.trim();
    state.cursors = [null];
    await load();
  }

  async function load() {
    clear(body, status("Loading tenants…"));
    try {
      const tenants = state.search ? await searchAll(state.search) : await onePage();
      const today = todayUTC();
      const usages = await eachLimited(tenants, 6, (t) => usage(t.tenant_id, today, today, "day"));
      state.rows = tenants.map((tenant, i) => ({ tenant, usage: usages[i] }));
      render();
    } catch (e) {
      clear(body, status(`Could not load the tenants: ${e.message}`, "error"));
    }
  }

  async function onePage() {
    const cursor = state.cursors[state.cursors.length - 1];
    const page = await api("GET", `tenants${query({ limit: PAGE, cursor })}`);
    state.next = page.next_cursor;
    return page.data;
  }

  async function searchAll(text) {
    const needle = text.toLowerCase();
    const found = [];
    let cursor = null;
    for (let i = 0; i < SEARCH_MAX_PAGES; i++) {
      const page = await api("GET", `tenants${query({ limit: SEARCH_PAGE, cursor })}`);
      found.push(...page.data.filter((t) => t.tenant_id.toLowerCase().includes(needle)));
      cursor = page.next_cursor;
      if (!cursor || found.length >= PAGE * 4) break;
    }
    state.next = null;
    return found.slice(0, PAGE * 4);
  }

  function render() {
    const column = COLUMNS.find((c) => c.key === state.sort) || COLUMNS[0];
    const rows = [...state.rows].sort((a, b) => {
      const x = column.value(a);
      const y = column.value(b);
      const order = x < y ? -1 : x > y ? 1 : 0;
      return state.descending ? -order : order;
    });
    const caption = state.search
      ? `${rows.length} tenant(s) whose id contains "${state.search}"`
      : `Page ${state.cursors.length}`;
    clear(
      body,
      rows.length === 0
        ? status(state.search ? "No tenant matches." : "No tenants yet.")
        : h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              { id: "tenants-table" },
              h("caption", {}, caption, " · sorted within this page"),
              h("thead", {}, h("tr", {}, COLUMNS.map(header))),
              h("tbody", {}, rows.map(row)),
            ),
          ),
      pager(),
    );
  }

  function header(column) {
    const active = column.key === state.sort;
    const sort = active ? (state.descending ? "descending" : "ascending") : "none";
    return h(
      "th",
      { scope: "col", "aria-sort": sort },
      h(
        "button",
        {
          type: "button",
          class: "sort",
          on: {
            click: () => {
              state.descending = active ? !state.descending : column.key !== "tenant_id";
              state.sort = column.key;
              render();
              body.querySelector(`th[aria-sort="${state.descending ? "descending" : "ascending"}"] button`)?.focus();
            },
          },
        },
        column.label,
        active ? (state.descending ? " ▼" : " ▲") : "",
      ),
    );
  }

  function row({ tenant, usage: u }) {
    const id = tenant.tenant_id;
    return h(
      "tr",
      { "data-tenant": id },
      h("th", { scope: "row" }, h("a", { href: `#/tenants/${encodeURIComponent(id)}` }, id)),
      // data-label: the column's name beside each value where rows stack (phone width)
      h("td", { class: "spend", "data-label": COLUMNS[1].label }, u ? spendBar(u.budget) : "—"),
      h("td", { class: "num", "data-label": COLUMNS[2].label }, formatCount(u?.total?.requests)),
      h("td", { class: "num", "data-label": COLUMNS[3].label }, formatCount(u?.total?.input_tokens)),
      h("td", { class: "num", "data-label": COLUMNS[4].label }, formatCount(u?.total?.output_tokens)),
      h("td", { "data-label": COLUMNS[5].label }, formatTime(tenant.created_at)),
    );
  }

  function pager() {
    if (state.search) return null;
    const previous = h(
      "button",
      { type: "button", disabled: state.cursors.length === 1, on: { click: () => { state.cursors.pop(); load(); } } },
      "← Previous",
    );
    const next = h(
      "button",
      { type: "button", id: "next-page", disabled: !state.next, on: { click: () => { state.cursors.push(state.next); load(); } } },
      "Next →",
    );
    return h("nav", { class: "pager", "aria-label": "Pages" }, previous, next);
  }

  load();
  return h(
    "section",
    { "aria-labelledby": "tenants-title" },
    h("h1", { id: "tenants-title" }, "Tenants"),
    searchForm,
    body,
  );
}

