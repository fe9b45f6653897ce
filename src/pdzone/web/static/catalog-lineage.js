/* Lineage graph of a dataset page, drawn with Apache ECharts (vendored; the CSP allows only 'self').
   Data comes from <script type="application/json" id="lineage-data">: {nodes, links, labels}.
   Sources stand on the left, the dataset in the middle, its products on the right. */
(function () {
  "use strict";

  var LEVEL_COLORS = { "1": "#1e7a46", "2": "#1f5fa8", "3": "#b26a00", "4": "#a61b1b" };
  var NO_LEVEL = "#8a94a3";
  var COLUMN = { source: 0, self: 1, product: 2 };

  function draw() {
    var box = document.getElementById("lineage-chart");
    var src = document.getElementById("lineage-data");
    if (!box || !src || typeof window.echarts === "undefined") {
      return;
    }
    var data = JSON.parse(src.textContent);
    var labels = data.labels || {};
    var perColumn = [0, 0, 0];
    var counts = [0, 0, 0];
    data.nodes.forEach(function (n) { counts[COLUMN[n.role]] += 1; });

    var nodes = data.nodes.map(function (n) {
      var col = COLUMN[n.role];
      var row = perColumn[col]++;
      var level = n.level ? String(n.level) : null;
      var isSelf = n.role === "self";
      return {
        id: n.id,
        name: n.id,
        x: col * 300,
        y: (row - (counts[col] - 1) / 2) * 90,
        symbol: "roundRect",
        symbolSize: isSelf ? [190, 58] : [170, 48],
        itemStyle: {
          color: isSelf ? (LEVEL_COLORS[level] || NO_LEVEL) : "#ffffff",
          borderColor: LEVEL_COLORS[level] || NO_LEVEL,
          borderWidth: 2
        },
        label: {
          show: true,
          color: isSelf ? "#ffffff" : "#1f2933",
          fontSize: 13,
          lineHeight: 18,
          formatter: n.title + "\n" + (level ? labels.level[level] : labels.unconfirmed)
        },
        tooltip: { formatter: n.id + "（" + (labels[n.role] || n.role) + "）" },
        url: n.url
      };
    });

    var chart = window.echarts.init(box, null, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      tooltip: { show: true },
      series: [{
        type: "graph",
        layout: "none",
        roam: true,
        data: nodes,
        links: data.links,
        edgeSymbol: ["none", "arrow"],
        edgeSymbolSize: 10,
        lineStyle: { color: "#5f6b7a", width: 2, curveness: 0 },
        emphasis: { focus: "adjacency" }
      }]
    });
    chart.on("click", function (p) {
      if (p.dataType === "node" && p.data && p.data.url) {
        window.location.assign(p.data.url);
      }
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
