// Draws the page's charts from the JSON block the server rendered (no requests, no storage).
(() => {
  "use strict";
  const PALETTE = ["#3b6fd4", "#e69500", "#2e8b57", "#d9534f", "#8e5fd4", "#1aa3a3", "#c2185b", "#7a7a7a"];

  document.querySelectorAll("[data-autosubmit]").forEach((el) => {
    el.addEventListener("change", () => el.form.submit());
  });

  const block = document.getElementById("dashboard-charts");
  if (!block || typeof Chart === "undefined") return;
  const specs = JSON.parse(block.textContent);
  Chart.defaults.animation = false;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;

  for (const [id, spec] of Object.entries(specs)) {
    const canvas = document.querySelector(`canvas[data-chart="${id}"]`);
    if (!canvas) continue;
    const round = spec.type === "doughnut";
    const datasets = spec.datasets.map((ds, i) => {
      const color = ds.color || PALETTE[i % PALETTE.length];
      const colors = round ? spec.labels.map((_, j) => PALETTE[j % PALETTE.length]) : color;
      return {
        label: ds.label,
        data: ds.data,
        borderColor: round ? "#fff" : color,
        backgroundColor: spec.type === "line" ? color + "33" : colors,
        fill: spec.type === "line" && spec.datasets.length === 1,
        spanGaps: true,
        tension: 0.25,
        pointRadius: 2,
      };
    });
    const options = {
      responsive: true,
      maintainAspectRatio: false,
      indexAxis: spec.horizontal ? "y" : "x",
      plugins: { legend: { display: spec.legend !== false, position: "bottom" } },
    };
    if (!round) {
      const counts = spec.datasets.every((ds) => ds.data.every((v) => v === null || Number.isInteger(v)));
      const value = { beginAtZero: true, ticks: counts ? { precision: 0 } : {} };
      const label = { ticks: { autoSkip: true, maxTicksLimit: 8, maxRotation: 0 } };
      options.scales = spec.horizontal ? { x: value } : { x: label, y: value };
    }
    new Chart(canvas, { type: spec.type, data: { labels: spec.labels, datasets }, options });
    canvas.dataset.drawn = "true";
  }
})();
