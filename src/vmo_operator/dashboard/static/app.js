// vmo dashboard: the little behaviour the server-rendered pages need. Loaded from 'self' only (the
// Content-Security-Policy allows no inline script); it reads data- attributes and never builds HTML
// from anything but the server's own rendered rows.
"use strict";

function liveList() {
  const table = document.getElementById("vms");
  if (!table || !window.EventSource) return;
  const body = table.tBodies[0];
  const live = document.getElementById("live");
  const empty = document.getElementById("empty");
  const source = new EventSource(table.dataset.events);
  const refreshEmpty = () => { if (empty) empty.hidden = body.rows.length > 0; };

  source.addEventListener("ready", () => { if (live) live.textContent = "Live."; table.dataset.live = "true"; });
  source.addEventListener("row", (message) => {
    const data = JSON.parse(message.data);
    const template = document.createElement("template");
    template.innerHTML = data.html.trim();
    const row = template.content.firstElementChild;
    const old = document.getElementById(data.id);
    if (old) {
      old.replaceWith(row);
    } else {
      const after = Array.from(body.rows).find((r) => r.dataset.key > data.key);
      body.insertBefore(row, after || null);
    }
    refreshEmpty();
  });
  source.addEventListener("remove", (message) => {
    const old = document.getElementById(JSON.parse(message.data).id);
    if (old) old.remove();
    refreshEmpty();
  });
  source.addEventListener("problem", (message) => { if (live) live.textContent = message.data; });
  source.onerror = () => { if (live) live.textContent = "Reconnecting…"; table.dataset.live = "false"; };
}

function copyButtons() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", () => {
      const target = document.getElementById(button.dataset.copy);
      if (target && navigator.clipboard) {
        navigator.clipboard.writeText(target.textContent).then(() => { button.textContent = "Copied"; });
      }
    });
  }
}

document.addEventListener("DOMContentLoaded", () => { liveList(); copyButtons(); });
