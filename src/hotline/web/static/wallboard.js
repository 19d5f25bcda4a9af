// The supervisor's wallboard: /api/stats drawn as tiles per line and queue, redrawn within
// a second of each event the server pushes on /api/events; a banner when the connection
// drops and when it is back; changes of a queue's state announced to screen readers.
"use strict";
(() => {
  const board = document.getElementById("board");
  const banner = document.getElementById("connection");
  const announcer = document.getElementById("announcer");
  const who = document.getElementById("who");
  let csrf = null;
  let pending = null;
  let retry = 1000;
  let dropped = false;
  const lastStatus = new Map();

  const pct = (x) => (x === null || x === undefined ? "–" : `${Math.round(x * 100)} %`);
  const secs = (x) => `${Math.round(x || 0)} s`;
  const clock = (x) => {
    const t = Math.round(x || 0);
    return `${Math.floor(t / 60)}:${String(t % 60).padStart(2, "0")}`;
  };

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    for (const c of children) e.append(c);
    return e;
  }

  function tile(name, now, agents, today, recent, within) {
    const waiting = (now && now.waiting) || 0;
    const longest = (now && now.longest_wait_seconds) || 0;
    const available = (agents && agents.available) || 0;
    const status = available === 0 ? "no agent available"
      : waiting > 0 && longest > within ? "waits over target" : "ok";
    const cls = status === "ok" ? "tile" : status === "no agent available" ? "tile bad" : "tile warn";
    const dl = el("dl", {});
    const rows = [
      ["Waiting", String(waiting)], ["Longest wait", secs(longest)],
      ["Agents available", String(available)],
      ["Answered today", String((today && today.answered) || 0)],
      ["Abandoned today", String((today && today.abandoned) || 0)],
      ["Service level today", pct(today && today.service_level)],
      ["Service level, 30 min", pct(recent && recent.service_level)],
    ];
    for (const [k, v] of rows) dl.append(el("dt", {}, k), el("dd", {"data-kpi": k}, v));
    return {
      node: el("article", {class: cls, "data-queue": name, "aria-label": `Queue ${name}`},
        el("h3", {}, name), el("p", {class: "status"}, status), dl),
      status,
    };
  }

  function draw(stats) {
    const sections = [];
    const changes = [];
    for (const [line, s] of Object.entries(stats.lines)) {
      const now = s.now, within = s.answer_within_seconds;
      const names = new Set([...Object.keys(now.agents_by_queue), ...Object.keys(now.queues),
                             ...Object.keys(s.today.queues)]);
      const tiles = el("div", {class: "tiles"});
      for (const q of [...names].sort()) {
        const t = tile(q, now.queues[q], now.agents_by_queue[q], s.today.queues[q],
                       s.last_30_minutes.queues[q], within);
        tiles.append(t.node);
        const key = `${line}/${q}`;
        if (lastStatus.has(key) && lastStatus.get(key) !== t.status) {
          changes.push(`${line}, queue ${q}: ${t.status}`);
        }
        lastStatus.set(key, t.status);
      }
      const agents = Object.entries(now.agents).map(([k, v]) => `${k.replace("_", " ")} ${v}`);
      const totals = el("p", {class: "totals"},
        el("span", {"data-total": "waiting"}, `Waiting ${now.waiting}`),
        el("span", {}, `Longest wait ${secs(now.longest_wait_seconds)}`),
        el("span", {"data-total": "answered"}, `Answered today ${s.today.answered}`),
        el("span", {}, `Abandoned today ${s.today.abandoned}`),
        el("span", {}, `Service level today ${pct(s.today.service_level)}`),
        el("span", {}, `Agents: ${agents.join(", ") || "none signed in"}`));
      const rows = now.agent_list.map((a) => el("tr", {"data-agent": a.agent_id},
        el("td", {}, a.agent_id), el("td", {}, a.state.replace("_", " ")),
        el("td", {}, a.reason || ""), el("td", {}, clock(a.seconds_in_state))));
      const agentTable = el("table", {class: "agents"},
        el("caption", {}, `Agents signed in on ${line}`),
        el("thead", {}, el("tr", {}, ...["Agent", "State", "Reason", "Time in state"]
          .map((h) => el("th", {scope: "col"}, h)))),
        el("tbody", {}, ...rows));
      sections.push(el("section", {class: "line", "aria-label": line, "data-line": line},
        el("h2", {}, `${line} (${s.number})`), totals, tiles,
        el("details", {}, el("summary", {}, `Agents (${now.agent_list.length} signed in)`),
          agentTable)));
    }
    const open = new Set([...board.querySelectorAll("section.line details[open]")]
      .map((d) => d.closest("section").dataset.line));
    for (const section of sections) {
      if (open.has(section.dataset.line)) section.querySelector("details").open = true;
    }
    board.replaceChildren(...sections);
    if (changes.length) announcer.textContent = changes.join(". ");
  }

  async function refresh() {
    pending = null;
    // (the page's own refreshes are not the person's doing: an idle session still locks)
    const r = await fetch("/api/stats", {headers: {"X-Hotline-Background": "1"}});
    if (r.status === 401) return window.location.assign("/login");
    if (r.ok) draw(await r.json());
  }

  function soon() {  // events come in bursts: one redraw for them, within a second
    if (pending === null) pending = setTimeout(refresh, 200);
  }

  function show(kind, text) {
    banner.className = `banner ${kind}`;
    banner.textContent = text;
    banner.hidden = false;
  }

  function connect() {
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/events`);
    ws.onopen = () => {
      retry = 1000;
      if (dropped) {
        dropped = false;
        show("back", "Connection to the server is back.");
        setTimeout(() => { banner.hidden = true; }, 5000);
      }
      refresh();
    };
    ws.onmessage = () => soon();
    ws.onclose = (e) => {
      if (e.code === 4401) return window.location.assign("/login");
      dropped = true;
      show("down", "Connection to the server lost: the figures are not live. Reconnecting…");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  const force = document.getElementById("force");
  force.addEventListener("submit", async (event) => {
    event.preventDefault();
    const said = document.getElementById("force-result");
    const agent = force.agent.value.trim();
    const r = await fetch(`/api/supervisor/agents/${encodeURIComponent(agent)}/state`, {
      method: "POST",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify({state: force.state.value, reason: force.reason.value}),
    });
    const answer = await r.json();
    said.textContent = r.ok ? `${agent} is now ${answer.state.replace("_", " ")}.`
      : (answer.message || `refused (${r.status})`);
    if (r.ok) soon();
  });

  document.getElementById("logoff").addEventListener("click", async () => {
    await fetch("/api/session", {method: "DELETE", headers: {"X-CSRF-Token": csrf}});
    window.location.assign("/login");
  });

  (async () => {
    const r = await fetch("/api/session", {headers: {"X-Hotline-Background": "1"}});
    if (!r.ok) return window.location.assign("/login");
    const me = await r.json();
    csrf = me.csrf;
    who.textContent = `${me.username} (${me.role})`;
    connect();
    setInterval(soon, 5000);  // times in state and waits go on between events

  })();
})();
