// Draws #usage-chart from the JSON in #usage-data with uPlot (served by the service):
// one colour per key, allocated solid and busy dashed, per day.
"use strict";
(function () {
  const box = document.getElementById("usage-chart");
  const source = document.getElementById("usage-data");
  if (!box || !source || typeof uPlot === "undefined") { return; }
  const data = JSON.parse(source.textContent);
  const keys = Object.keys(data.allocated).sort();
  if (!keys.length) { box.textContent = "No accelerator time in this window."; return; }
  const palette = ["#f37726", "#1f77b4", "#2ca02c", "#9467bd", "#d62728", "#17becf",
                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"];
  const text = getComputedStyle(document.body).color;
  const grid = getComputedStyle(document.body).getPropertyValue("--bs-border-color") || "#ccc";
  // the legend's value at the cursor's day (nothing while the cursor is off the chart)
  const hours = (u, v, s, i) => i == null ? "" : v == null ? "no telemetry" : v.toFixed(2) + " device-h";
  const series = [{}];
  const columns = [data.days];
  keys.forEach((key, i) => {
    const colour = palette[i % palette.length];
    series.push({label: key + " allocated", stroke: colour, width: 2, value: hours});
    series.push({label: key + " busy", stroke: colour, width: 2, dash: [6, 4], value: hours});
    columns.push(data.allocated[key]);
    columns.push(data.busy[key]);
  });
  const axis = {stroke: text, grid: {stroke: grid, width: 1}, ticks: {stroke: grid}};
  const options = {
    width: Math.max(box.clientWidth, 320), height: 260,
    series: series,
    // one tick per day at most (uPlot would tick hours on a short window of daily points)
    axes: [Object.assign({incrs: [86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400]}, axis),
           Object.assign({label: "device-hours per day"}, axis)],
    scales: {x: {time: true}},
  };
  const chart = new uPlot(options, columns, box);
  window.addEventListener("resize", () => chart.setSize({width: Math.max(box.clientWidth, 320), height: 260}));
})();
