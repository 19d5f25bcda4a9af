// The supervisor's wallboard: /api/stats drawn as tiles per line and queue, redrawn within
// a second of each event the server pushes on /api/events; a banner when the connection
// drops and when it is back; changes of a queue's state announced to screen readers. With
// a browser phone set up (phone.js), it answers the legs of the calls the supervisor joins.
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
  const supervising = new Set();  // the calls this supervisor asked to join (their legs)

  const pct = (x) => (x === null || x === undefined ? "–" : `${Math.round(x * 100)} %`);
  const secs = (x) => `${Math.round(x || 0)} s`;
  const {el, clock} = window.hotline;

  // The line's thresholds: red with no agent available; amber when a caller has waited
  // longer than the target time, or the last 30 minutes' service level is under target.
  function judge(waiting, longest, available, recent, within, target) {
    if (available === 0) return "no agent available";
    if (waiting > 0 && longest > within) return "waits over target";
    const sl = recent && recent.service_level;
    if (sl !== null && sl !== undefined && sl < target) return "service level under target";
    return "ok";
  }
  const tone = (status) => (status === "ok" ? "" : status === "no agent available" ? "bad" : "warn");

  function tile(name, now, agents, today, recent, within, target) {
    const waiting = (now && now.waiting) || 0;
    const longest = (now && now.longest_wait_seconds) || 0;
    const available = (agents && agents.available) || 0;
    const status = judge(waiting, longest, available, recent, within, target);
    const cls = `tile ${tone(status)}`.trim();
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

  // Per language: who waits, agents available who can be offered its calls (they serve a
  // queue with a step in that language and meet it), today's figures.
  function languages(line, s, changes) {
    const now = s.now;
    const rows = s.languages.map((lang) => {
      const w = now.languages[lang] || {};
      const available = (now.agents_by_language[lang] || {}).available || 0;
      const today = s.today.languages[lang] || {};
      const status = judge(w.waiting || 0, w.longest_wait_seconds || 0, available,
        s.last_30_minutes.languages[lang], s.answer_within_seconds, s.service_target);
      const key = `${line}/language/${lang}`;
      const name = (s.language_names || {})[lang];
      const named = name ? `${name} (${lang})` : lang;
      if (lastStatus.has(key) && lastStatus.get(key) !== status) {
        changes.push(`${line}, ${name || `language ${lang}`}: ${status}`);
      }
      lastStatus.set(key, status);
      return el("tr", {"data-language": lang, class: tone(status)},
        el("th", {scope: "row"}, named), el("td", {}, String(w.waiting || 0)),
        el("td", {}, secs(w.longest_wait_seconds)), el("td", {}, String(available)),
        el("td", {}, String(today.answered || 0)), el("td", {}, String(today.abandoned || 0)),
        el("td", {}, pct(today.service_level)), el("td", {class: "status"}, status));
    });
    return el("details", {class: "languages", "data-key": "languages"}, el("summary", {}, "By language"),
      el("table", {class: "agents"}, el("caption", {}, `Languages on ${line}`),
        el("thead", {}, el("tr", {}, ...["Language", "Waiting", "Longest wait", "Agents available",
          "Answered today", "Abandoned today", "Service level today", "Status"]
          .map((h) => el("th", {scope: "col"}, h)))),
        el("tbody", {}, ...rows)));
  }

  // Today by half hour: answered and abandoned as bars, service level against target,
  // drawn as SVG with the same figures in a table for screen readers.
  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function chart(line, intervals, target) {
    const width = 960, height = 160, pad = 28, slots = 48;
    const top = Math.max(1, ...intervals.map((i) => i.answered + i.abandoned));
    const graph = svg("svg", {viewBox: `0 0 ${width} ${height + pad}`, class: "chart",
      role: "img", "aria-label": `${line}: answered and abandoned calls by half hour today`});
    const bar = (width - pad) / slots;
    for (const i of intervals) {
      const [hh, mm] = i.from.split(":").map(Number);  // the line's local time
      const slot = hh * 2 + (mm >= 30 ? 1 : 0);
      const x = pad + slot * bar;
      const h1 = (i.answered / top) * height, h2 = (i.abandoned / top) * height;
      graph.append(svg("rect", {x, y: height - h1, width: bar * 0.8, height: h1, class: "answered"}),
        svg("rect", {x, y: height - h1 - h2, width: bar * 0.8, height: h2, class: "abandoned"}));
    }
    for (let h = 0; h <= 24; h += 3) {
      graph.append(svg("text", {x: pad + h * 2 * bar, y: height + 18, class: "axis"}, `${h}:00`));
    }
    graph.append(svg("text", {x: 0, y: 12, class: "axis"}, String(top)));
    const rows = intervals.map((i) => el("tr", {}, el("td", {}, i.from),
      el("td", {}, String(i.answered)), el("td", {}, String(i.abandoned)),
      el("td", {}, pct(i.service_level))));
    return el("details", {class: "chart", "data-key": "chart"}, el("summary", {},
      `Today by half hour (target ${pct(target)} answered within the time)`),
      graph, el("p", {class: "legend"}, el("span", {class: "key answered"}, ""), " answered ",
        el("span", {class: "key abandoned"}, ""), " abandoned"),
      el("table", {class: "agents"}, el("caption", {}, `${line} today by half hour`),
        el("thead", {}, el("tr", {}, ...["From", "Answered", "Abandoned", "Service level"]
          .map((h) => el("th", {scope: "col"}, h)))),
        el("tbody", {}, ...rows)));
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
                       s.last_30_minutes.queues[q], within, s.service_target);
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
        el("td", {}, a.reason || ""), el("td", {}, clock(a.seconds_in_state)),
        el("td", {}, ...(a.state === "on_call" && a.call_sid ? supervise(a) : []))));
      const agentTable = el("table", {class: "agents"},
        el("caption", {}, `Agents signed in on ${line}`),
        el("thead", {}, el("tr", {}, ...["Agent", "State", "Reason", "Time in state", "On the call"]
          .map((h) => el("th", {scope: "col"}, h)))),
        el("tbody", {}, ...rows));
      sections.push(el("section", {class: "line", "aria-label": line, "data-line": line},
        el("h2", {}, `${line} (${s.number})`), totals, tiles, languages(line, s, changes),
        chart(line, s.today.intervals, s.service_target),
        el("details", {"data-key": "agents"}, el("summary", {}, `Agents (${now.agent_list.length} signed in)`),
          agentTable)));
    }
    const open = new Set([...board.querySelectorAll("section.line details[open]")]
      .map((d) => `${d.closest("section").dataset.line}/${d.dataset.key}`));
    for (const section of sections) {
      for (const d of section.querySelectorAll("details")) {
        if (open.has(`${section.dataset.line}/${d.dataset.key}`)) d.open = true;
      }
    }
    board.replaceChildren(...sections);
    if (changes.length) announcer.textContent = changes.join(". ");
  }

  // Listen to an agent's call (nobody hears you), whisper to the agent (the caller does not
  // hear you), barge in (both do), or leave it: the agent is shown each, the call records it.
  function supervise(a) {
    const modes = [["listen", "Listen"], ["whisper", "Whisper"], ["barge", "Barge in"], ["leave", "Leave"]];
    return modes.map(([mode, label]) => {
      const b = el("button", {type: "button", class: "supervise",
        "aria-label": `${label}: ${a.agent_id}'s call`}, label);
      b.addEventListener("click", async () => {
        const said = document.getElementById("supervise-result");
        const sid = a.call_sid;
        const was = supervising.has(sid);
        if (mode !== "leave") supervising.add(sid);  // (its leg may ring before the answer)
        const r = await window.hotline.send(`/api/supervisor/calls/${encodeURIComponent(sid)}/${mode}`,
          {method: "POST", headers: {"X-CSRF-Token": csrf}}, (text) => { said.textContent = text || ""; });
        if (mode === "leave" ? r.ok : !r.ok && !was) supervising.delete(sid);
        const answer = await r.json();
        said.textContent = r.ok ? `${mode === "leave" ? "You left" : `${label}:`} ${a.agent_id}'s call.`
          : (answer.message || `refused (${r.status})`);
      });
      return b;
    });
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
    const r = await window.hotline.send(`/api/supervisor/agents/${encodeURIComponent(agent)}/state`, {
      method: "POST",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify({state: force.state.value, reason: force.reason.value}),
    }, (text) => { said.textContent = text || ""; });
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
    document.getElementById("nav").hidden = me.role !== "admin";
    connect();
    setInterval(soon, 5000);  // times in state and waits go on between events
    window.hotlinePhone.start({tokenPath: "/api/supervisor/voice-token", csrf,
      status: document.getElementById("phone"),
      expects: (sid) => sid !== null && supervising.has(sid),
      over: (sid) => supervising.delete(sid)});
  })();
})();
