/* The workbench's quick chart, drawn with Apache ECharts (vendored; the CSP allows only 'self').
   Data comes from <script type="application/json" id="result-data">: {x, y, categories, values}:
   the first numeric column of the released result by its first text column. Only released numbers are drawn;
   the page works without this script (the table holds the same values). */
(function () {
  "use strict";

  function draw() {
    var box = document.getElementById("result-chart");
    var src = document.getElementById("result-data");
    if (!box || !src || typeof window.echarts === "undefined") {
      return;
    }
    var data = JSON.parse(src.textContent);
    var chart = window.echarts.init(box, null, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      grid: { left: 72, right: 24, top: 24, bottom: 64 },
      tooltip: { trigger: "axis" },
      xAxis: {
        type: "category",
        name: data.x,
        nameLocation: "middle",
        nameGap: 44,
        data: data.categories,
        axisLabel: { interval: 0, rotate: data.categories.length > 8 ? 30 : 0 }
      },
      yAxis: { type: "value", name: data.y },
      series: [{
        type: "bar",
        name: data.y,
        data: data.values,
        itemStyle: { color: "#1f5fa8" }
      }]
    });
    window.addEventListener("resize", function () { chart.resize(); });
    box.setAttribute("data-rendered", "1");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
}());
