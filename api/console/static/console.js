// Glue only: charts are Chart.js, date pickers flatpickr, requests htmx. Pages declare what they need
// with data- attributes; this file wires them up (again after every htmx swap).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Show 4xx/5xx fragments (a refused transition, a bad query) where the answer would have gone.
  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "[45]..", swap: true, error: true },
  ];
  htmx.onLoad(init);
});

function init(root) {
  root.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
    if (canvas.dataset.ready) return;
    canvas.dataset.ready = "1";
    const config = JSON.parse(canvas.dataset.chart);
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options);
    new Chart(canvas, config);
  });
  const zh = document.body.dataset.lang === "zh-CN" && window.flatpickr && flatpickr.l10ns && flatpickr.l10ns.zh;
  root.querySelectorAll("input[data-datetime]").forEach((input) => {
    if (input._flatpickr) return;
    // allowInput: relative times (now-24h) typed by hand still work, as in the API.
    flatpickr(input, { enableTime: true, time_24hr: true, allowInput: true, dateFormat: "Y-m-d H:i", locale: zh || "default" });
  });
  root.querySelectorAll("input[data-date]").forEach((input) => {
    if (input._flatpickr) return;
    flatpickr(input, { dateFormat: "Y-m-d", allowInput: true, locale: zh || "default" });
  });
  root.querySelectorAll("[data-queue]").forEach(queueKeys);
  countdowns();
}

// Incident deadlines: time left, or how long overdue (in red), refreshed every 30 seconds.
function countdowns() {
  const now = Date.now();
  document.querySelectorAll("[data-due]").forEach((el) => {
    const left = Math.round((Date.parse(el.dataset.due) - now) / 60000);
    const minutes = Math.abs(left);
    const text = minutes >= 60 ? `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, "0")}m` : `${minutes}m`;
    el.textContent = `${left < 0 ? el.dataset.overdueText : el.dataset.leftText} ${text}`;
    el.classList.toggle("overdue", left < 0);
  });
}
setInterval(countdowns, 30000);

// The alert queue: j/k move the focus between rows, Enter opens the focused alert, x selects it.
function queueKeys(table) {
  if (table.dataset.keys) return;
  table.dataset.keys = "1";
  const rows = () => Array.from(table.querySelectorAll("tbody tr[data-href]"));
  const focusRow = (row) => {
    rows().forEach((r) => r.classList.remove("focused"));
    if (!row) return;
    row.classList.add("focused");
    row.focus();
  };
  table.addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-href]");
    if (row && !event.target.closest("input,a,button,label")) focusRow(row);
  });
  document.addEventListener("keydown", (event) => {
    if (!document.body.contains(table)) return;
    if (event.target.closest("input,textarea,select") || event.ctrlKey || event.metaKey || event.altKey) return;
    const all = rows();
    if (!all.length) return;
    const current = all.indexOf(table.querySelector("tr.focused"));
    if (event.key === "j") { focusRow(all[Math.min(current + 1, all.length - 1)]); event.preventDefault(); }
    else if (event.key === "k") { focusRow(all[Math.max(current - 1, 0)]); event.preventDefault(); }
    else if (event.key === "Enter" && current >= 0) { window.location.href = all[current].dataset.href; event.preventDefault(); }
    else if (event.key === "x" && current >= 0) {
      const box = all[current].querySelector("input[type=checkbox]");
      box.checked = !box.checked;
      all[current].classList.toggle("selected", box.checked);
      event.preventDefault();
    }
  });
}
