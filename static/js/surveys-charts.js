// Draws the survey results charts from the numbers the page carries in data-chart; each chart
// has a table beside it with the same numbers, so nothing is lost without JavaScript.
(function () {
  "use strict";

  var GROUP_COLOURS = { "-1": "#c0392b", "0": "#95a5a6", "1": "#27ae60" };

  function distribution(canvas, data) {
    return new Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [{
          label: canvas.dataset.label,
          data: data.counts,
          backgroundColor: data.groups.map(function (group) { return GROUP_COLOURS[String(group)]; })
        }]
      },
      options: {
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { display: false } },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } }
      }
    });
  }

  function trend(canvas, data) {
    var dashed = { borderDash: [4, 4], pointRadius: 0, borderWidth: 1, borderColor: "#7f8c8d", fill: false };
    return new Chart(canvas, {
      type: "line",
      data: {
        labels: data.labels,
        datasets: [
          { label: canvas.dataset.label, data: data.values, borderColor: "#2c3e50", backgroundColor: "#2c3e50", spanGaps: true },
          Object.assign({ label: canvas.dataset.upper, data: data.upper }, dashed),
          Object.assign({ label: canvas.dataset.lower, data: data.lower }, dashed)
        ]
      },
      options: {
        maintainAspectRatio: false,
        animation: false,
        scales: data.percent ? { y: { min: 0, max: 100 } } : { y: { min: -100, max: 100 } }
      }
    });
  }

  function draw() {
    if (typeof Chart === "undefined") {
      return;
    }
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var data = JSON.parse(canvas.dataset.chart);
      if (canvas.dataset.kind === "distribution") {
        distribution(canvas, data);
      } else if (canvas.dataset.kind === "trend") {
        trend(canvas, data);
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
