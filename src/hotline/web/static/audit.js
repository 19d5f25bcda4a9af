// The auditors' page: search the audit trail (/api/audit/entries), newest first, a page
// at a time, and the latest signed checkpoint (/api/audit/checkpoints). Every reading is
// itself an entry in the trail; a reading that could not be recorded shows nothing.
"use strict";
(() => {
  const status = document.getElementById("status");
  const form = document.getElementById("search");
  const formError = document.getElementById("search-error");
  const results = document.getElementById("results");
  const checkpoint = document.getElementById("checkpoint");
  const olderButton = document.getElementById("older");
  const newerButton = document.getElementById("newer");
  // each other role's own page (as the log-on page sends them there)
  const OWN_PAGES = {supervisor: ["/wallboard", "Go to the wallboard"],
                     admin: ["/admin", "Go to the administration"],
                     agent: ["/desktop", "Go to the agent desktop"]};
  const FILTERS = ["actor", "action", "object", "outcome", "since", "until", "limit"];
  let filters = {};  // those of the search shown: paging keeps them
  let older = null, newer = null;  // the parameters of the next pages, or null

  const {el} = window.hotline;

  async function get(path) {
    let r;
    try {
      r = await fetch(path);
    } catch (e) {
      return {ok: false, answer: {message: "The server cannot be reached; nothing was read."}};
    }
    if (r.status === 401) { window.location.assign("/login"); return {ok: false, answer: {}}; }
    return {ok: r.ok, answer: await r.json()};
  }

  function detailsText(details) {
    return Object.entries(details)
      .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(", ") : v}`).join("; ");
  }

  function table(entries) {
    const head = ["Time (UTC)", "Seq", "Actor", "Role", "Action", "Object", "Outcome", "Details"];
    const rows = entries.map((e) => el("tr", {"data-seq": String(e.seq), class: e.outcome},
      el("td", {class: "time"}, e.at.replace("T", " ").replace(/\.\d+Z$/, "")),
      el("td", {class: "seq"}, String(e.seq)),
      el("td", {}, e.actor), el("td", {}, e.role), el("td", {"data-action": ""}, e.action),
      el("td", {}, e.object || ""), el("td", {class: "outcome"}, e.outcome),
      el("td", {class: "details"}, detailsText(e.details))));
    const first = entries.length ? entries[0].seq : null, last = entries.length ? entries[entries.length - 1].seq : null;
    const caption = entries.length
      ? `${entries.length} entr${entries.length === 1 ? "y" : "ies"}, numbers ${first} down to ${last}`
      : "No entry matches";
    return el("table", {class: "entries"}, el("caption", {}, caption),
      el("thead", {}, el("tr", {}, ...head.map((h) => el("th", {scope: "col"}, h)))),
      el("tbody", {}, ...rows));
  }

  async function show(page) {
    const query = new URLSearchParams({...filters, ...page});
    const r = await get(`/api/audit/entries?${query}`);
    if (!r.ok) {
      formError.textContent = r.answer.message || "The search was refused.";
      return;
    }
    formError.textContent = "";
    older = r.answer.next;
    newer = r.answer.previous;
    olderButton.disabled = older === null;
    newerButton.disabled = newer === null;
    results.replaceChildren(table(r.answer.entries));
    const n = r.answer.entries.length;
    status.textContent = `${n} entr${n === 1 ? "y" : "ies"} shown${older ? "; older ones on the next page" : ""}.`;
  }

  async function loadCheckpoint() {
    const r = await get("/api/audit/checkpoints?limit=1");
    if (!r.ok) { checkpoint.textContent = r.answer.message || "Could not read the checkpoints."; return; }
    const [latest] = r.answer.checkpoints;
    if (!latest) {
      checkpoint.textContent = "No checkpoint yet: the server signs one within a minute.";
      return;
    }
    checkpoint.replaceChildren(
      el("span", {"data-size": String(latest.size)},
        `Entries 1 to ${latest.size}, signed at ${latest.at.replace("T", " ").replace(/\.\d+Z$/, "")} UTC.`),
      el("details", {}, el("summary", {}, "The signed note"), el("pre", {}, latest.note)));
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    filters = {};
    for (const name of FILTERS) {
      const value = form.elements[name].value.trim();
      if (value) filters[name] = value;
    }
    show({});
  });
  olderButton.addEventListener("click", () => { if (older) show(older); });
  newerButton.addEventListener("click", () => { if (newer) show(newer); });

  document.getElementById("logoff").addEventListener("click", async () => {
    const me = await fetch("/api/session");
    const csrf = me.ok ? (await me.json()).csrf : "";
    await fetch("/api/session", {method: "DELETE", headers: {"X-CSRF-Token": csrf}});
    window.location.assign("/login");
  });

  (async () => {
    const r = await fetch("/api/session");
    if (!r.ok) return window.location.assign("/login");
    const me = await r.json();
    document.getElementById("who").textContent = `${me.username} (${me.role})`;
    if (me.role !== "auditor") {  // (its API refuses them too, and records that it did)
      const own = OWN_PAGES[me.role];
      status.replaceChildren("This page is for auditors.",
        ...(own ? [" ", el("a", {href: own[0]}, own[1])] : []));
      for (const part of [form, document.getElementById("checkpoint-section"),
                          document.getElementById("results-section")]) part.hidden = true;
      return;
    }
    filters = {limit: "100"};
    await Promise.all([loadCheckpoint(), show({})]);
  })();
})();
