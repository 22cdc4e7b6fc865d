// FSMB leaderboard: click a column header to sort its table; click again to reverse.
// Each cell carries its value in data-sort (a number, or text); empty values sort last.
"use strict";
(function () {
  function key(cell) {
    const raw = cell.getAttribute("data-sort");
    if (raw === null || raw === "") return null;
    const x = Number(raw);
    return Number.isNaN(x) ? raw.toLowerCase() : x;
  }
  function compare(a, b) {
    if (a === null) return b === null ? 0 : 1;
    if (b === null) return -1;
    if (typeof a === typeof b) return a < b ? -1 : a > b ? 1 : 0;
    return typeof a === "number" ? -1 : 1;
  }
  function sortBy(table, column, header) {
    const ascending = header.getAttribute("aria-sort") !== "ascending";
    const body = table.tBodies[0];
    const rows = Array.from(body.rows).map((row, i) => ({ row, i, k: key(row.cells[column]) }));
    rows.sort((a, b) => {
      if (a.k === null || b.k === null) return compare(a.k, b.k) || a.i - b.i;
      return (ascending ? compare(a.k, b.k) : compare(b.k, a.k)) || a.i - b.i;
    });
    rows.forEach((r) => body.appendChild(r.row));
    for (const th of table.tHead.rows[0].cells) th.removeAttribute("aria-sort");
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  document.querySelectorAll("table.sortable").forEach((table) => {
    Array.from(table.tHead.rows[0].cells).forEach((th, column) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = th.textContent;
      button.title = "sort by " + th.textContent;
      th.textContent = "";
      th.appendChild(button);
      button.addEventListener("click", () => sortBy(table, column, th));
    });
  });
})();
