// Chart.js, only the parts the dashboard draws (tree-shaken by the bundler).
// Canvases are drawn with no animation, so what is on screen is the data at once;
// each chart is kept on window.__charts by name for the browser tests, which compare
// the drawn data with the API's answer.
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from "chart.js";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController, LineElement, PointElement, Legend, Tooltip);

const PALETTE = ["#2457a6", "#d9822b", "#2e8540", "#b8336a", "#6b5b95", "#008b8b", "#8c564b", "#7f7f7f"];

export function color(i) {
  return PALETTE[i % PALETTE.length];
}

window.__charts = window.__charts || {};

export function drawChart(canvas, name, config) {
  window.__charts[name]?.destroy();
  const chart = new Chart(canvas, {
    ...config,
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: { position: "bottom" } },
      ...config.options,
    },
  });
  window.__charts[name] = chart;
  return chart;
}

export function forgetChart(name) {
  window.__charts[name]?.destroy();
  delete window.__charts[name];
}
