// softview console: countdowns to purge, and pages that re-read themselves when the database
// announces a change (server-sent events from /events). No framework, no build step.
"use strict";

function countdownText(until) {
  const seconds = Math.floor((until - Date.now()) / 1000);
  if (seconds <= 0) return "due for purge";
  const d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600);
  const m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
  const left = d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${s}s` : `${s}s`;
  return `purged in ${left}`;
}

function tickCountdowns() {
  for (const time of document.querySelectorAll("time.countdown")) {
    const until = Date.parse(time.getAttribute("datetime"));
    if (!Number.isNaN(until)) time.textContent = countdownText(until);
  }
}

// Replaces the live part of the page with the server's current version of it.
let refreshing = false, again = false;
async function refresh() {
  if (refreshing) { again = true; return; }
  refreshing = true;
  try {
    const response = await fetch(location.href, { headers: { Accept: "text/html" }, cache: "no-store" });
    if (response.ok) {
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById("live");
      const current = document.getElementById("live");
      if (fresh && current) {
        const before = new Map([...current.querySelectorAll("tr[id]")].map(r => [r.id, r.className]));
        current.replaceWith(fresh);
        for (const row of fresh.querySelectorAll("tr[id]")) {
          if (before.has(row.id) && before.get(row.id) !== row.className) row.classList.add("flash");
        }
        tickCountdowns();
      }
    }
  } finally {
    refreshing = false;
    if (again) { again = false; setTimeout(refresh, 50); }
  }
}

let pending = null;
function refreshSoon() {
  if (pending === null) pending = setTimeout(() => { pending = null; refresh(); }, 100);
}

function follow() {
  const status = document.getElementById("live-status");
  if (!document.getElementById("live")) { if (status) status.dataset.state = "off"; return; }
  let lost = false;
  const events = new EventSource("/events");
  events.onopen = () => {
    if (status) status.dataset.state = "open";
    // Changes made while the stream was down were not announced to this page: re-read.
    if (lost) { lost = false; refreshSoon(); }
  };
  events.onerror = () => { lost = true; if (status) status.dataset.state = "down"; };
  events.onmessage = refreshSoon;
}

document.addEventListener("DOMContentLoaded", () => {
  tickCountdowns();
  setInterval(tickCountdowns, 1000);
  follow();
});
