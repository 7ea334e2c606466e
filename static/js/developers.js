// Developer portal enhancements. Everything works without them: the file input is a plain input,
// the version page reloads by hand, the charts' data is also in tables.
(function () {
  "use strict";

  function enhanceDropzones() {
    document.querySelectorAll("[data-dropzone]").forEach(function (zone) {
      var input = zone.querySelector("input[type=file]");
      var label = zone.querySelector("[data-dropzone-file]");
      if (!input) return;
      function show() {
        if (label) label.textContent = input.files && input.files.length ? input.files[0].name : "";
      }
      input.addEventListener("change", show);
      ["dragenter", "dragover"].forEach(function (name) {
        zone.addEventListener(name, function (event) {
          event.preventDefault();
          zone.classList.add("is-dragover");
        });
      });
      ["dragleave", "drop"].forEach(function (name) {
        zone.addEventListener(name, function () {
          zone.classList.remove("is-dragover");
        });
      });
      zone.addEventListener("drop", function (event) {
        event.preventDefault();
        if (event.dataTransfer && event.dataTransfer.files.length) {
          input.files = event.dataTransfer.files;
          show();
        }
      });
    });
  }

  var PALETTE = ["#4338ca", "#b91c1c", "#15803d", "#92400e", "#1e40af"];

  function drawCharts() {
    if (typeof window.Chart === "undefined") return;
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var source = document.getElementById(canvas.getAttribute("data-chart-source"));
      if (!source) return;
      var data = JSON.parse(source.textContent);
      var names = Object.keys(data.rows);
      new window.Chart(canvas, {
        type: canvas.getAttribute("data-chart"),
        data: {
          labels: data.labels,
          datasets: names.map(function (name, index) {
            var colour = PALETTE[index % PALETTE.length];
            return { label: name, data: data.rows[name], borderColor: colour, backgroundColor: colour, tension: 0.2 };
          }),
        },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
        },
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    enhanceDropzones();
    drawCharts();
  });
})();
