// Shows every <time datetime="..."> of the page in the reader's own time zone; without
// JavaScript the page keeps the UTC text the service wrote.
"use strict";
(function () {
  const format = new Intl.DateTimeFormat(undefined, {
    day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
    timeZoneName: "short",
  });
  for (const node of document.querySelectorAll("time[datetime]")) {
    const when = new Date(node.getAttribute("datetime"));
    if (!isNaN(when.getTime())) {
      node.title = node.textContent;
      node.textContent = format.format(when);
      node.classList.add("local");
    }
  }
})();
