// This month's spend against the budget as a bar. The figures are the usage
// endpoint's `budget` object; the bar's width only draws their ratio.
import { formatUSD, h } from "./dom.js";

export function spendBar(budget) {
  if (!budget) return "—";
  const spent = budget.spent_usd;
  const limit = budget.monthly_usd;
  if (limit === null || limit === undefined) {
    return h("span", { class: "spend-text" }, `${formatUSD(spent)} (no budget)`);
  }
  const share = limit > 0 ? Math.min(spent / limit, 1) : 1;
  const level = share >= 0.9 ? "high" : share >= 0.7 ? "mid" : "low";
  return h(
    "div",
    { class: "spend-cell" },
    h("meter", {
      class: `spend-meter ${level}`,
      min: 0,
      max: limit > 0 ? limit : 1,
      low: limit * 0.7,
      high: limit * 0.9,
      optimum: 0,
      value: Math.min(spent, limit > 0 ? limit : 1),
      title: `${formatUSD(spent)} of ${formatUSD(limit)} in ${budget.month}`,
    }),
    h("span", { class: "spend-text" }, `${formatUSD(spent)} of ${formatUSD(limit)}`),
  );
}
