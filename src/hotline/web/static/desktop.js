// The agent desktop: the agent's state and the call offered or under way, over the agents'
// API and their one socket (/api/agent/ws). Presence is the server's: this window only
// shows it. Another window of the same agent takes the socket over; this one then says
// so and can take it back. With a browser phone set up (phone.js), it answers the legs
// of the calls the agent is on.
"use strict";
(() => {
  const stateBox = document.getElementById("state");
  const callBox = document.getElementById("call");
  const banner = document.getElementById("connection");
  const elsewhere = document.getElementById("elsewhere");
  const announcer = document.getElementById("announcer");
  const actionError = document.getElementById("action-error");
  let csrf = null;
  let me = null;  // {agent_id, state, reason, call_sid}
  let offer = null;  // the offer (or the call it became): its details
  let since = 0;  // when the current state began here (ms, this browser's clock)
  let retry = 1000;
  let dropped = false;
  let ws = null;
  let phone = Promise.resolve(null);  // the browser phone, once started (phone.js)
  let legs = null;  // the agent's phone and who else is on the call: {connected, held, consult, interpreter, supervisors}
  // What the server says is on a call now; once the agent's phone answered it stays so for
  // that call (an answer to an accept may come after the news that the phone answered).
  const setLegs = (sid, l) => {
    const was = legs && legs.call_sid === sid && legs.connected;
    legs = {...(l || {}), call_sid: sid};
    if (was) legs.connected = true;
  };
  // The socket tells every change of the agent's state, in order; an action's answer says
  // the state as the action left it, which a change told since may have overtaken (a
  // hang-up's answer says "on a call"; the carrier's end of the call, told at once, says
  // "wrapping up"). So an answer is shown only if the socket told nothing since it was
  // asked (what the action changed is told on the socket too).
  let told = 0;  // states told on the socket
  const answered = (asked, answer) => { if (told === asked) show(answer); };
  let consulted = null;  // a consultation this agent is asked into: {agent_id, call}
  let targets = null;  // where a call can be transferred: {queues, agents}

  const SUPERVISING = {listen: "is listening", whisper: "is whispering to you (the caller does not hear)",
    barge: "has joined the call"};

  const STATES = {available: "Available", not_ready: "Not ready", reserved: "A call is offered",
    on_call: "On a call", wrap_up: "Wrapping up", offline: "Logged out of the lines"};
  const ATTRIBUTE_NAMES = {caller_type: "Caller", verification: "Verification",
    agency: "Agency", urgent: "Urgent", interpreter: "Needs an interpreter"};

  const {el} = window.hotline;
  const clock = (ms) => window.hotline.clock(ms / 1000);

  // an action's request; while the line moves to another server, it is sent again (and
  // the agent told so) until it is taken
  const waiting = (text) => { actionError.textContent = text || ""; };
  const send = (url, init) => window.hotline.send(url, init, waiting);

  // An action asked again while it is the last one asked and still on its way (its path
  // and body the same) is that one: a double click, or a click again while the line moves
  // to another server, asks once (sent twice, the second would be refused, the first
  // having done it). Asked again after another action, it is sent again, after that one:
  // "available", "not ready", "available" leaves the agent available.
  let asking = null;  // the last action asked, while on its way: {key, answer}
  function post(path, body) {
    const key = `${path}\n${body === undefined ? "" : JSON.stringify(body)}`;
    if (asking && asking.key === key) return asking.answer;
    const mine = {key, answer: null};
    mine.answer = postOnce(path, body).finally(() => { if (asking === mine) asking = null; });
    asking = mine;
    return mine.answer;
  }

  async function postOnce(path, body) {
    actionError.textContent = "";
    const asked = told;
    let r;
    try {
      r = await send(`/api/agent/${path}`, body === undefined
        ? {method: "POST", headers: {"X-CSRF-Token": csrf}}
        : {method: "POST", headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
          body: JSON.stringify(body)});
    } catch (e) {
      actionError.textContent = "The server cannot be reached; try again.";
      return null;
    }
    if (r.status === 401) { window.location.assign("/login"); return null; }
    const answer = await r.json();
    if (!r.ok) { actionError.textContent = answer.message || `refused (${r.status})`; return null; }
    answered(asked, answer);
    return answer;
  }

  // Who else is on the call, in words (the agent sees every change).
  function onTheCall() {
    const l = legs || {};
    const lines = [];
    if (l.calling_back) lines.push("Calling the caller back: their phone is ringing.");
    else if (l.connected === false) lines.push("Your phone is ringing: answer it to talk to the caller.");
    if (l.held) lines.push("The caller is on hold.");
    if (l.consult) lines.push(`Consulting ${l.consult}; the caller is on hold.`);
    if (l.interpreter) lines.push("An interpreter is on the call.");
    else if (offer && offer.agent_lacks_language) {
      lines.push(`You do not speak ${offer.language_name || offer.language}: add an interpreter.`);
    }
    for (const [name, mode] of Object.entries(l.supervisors || {})) {
      lines.push(`Supervisor ${name} ${SUPERVISING[mode] || mode}.`);
    }
    return el("ul", {id: "on-the-call", class: "legs"}, ...lines.map((t) => el("li", {}, t)));
  }

  // An action on the call the agent is on now (or wraps up): it names that call, so that a
  // request sent again later (while the line moves to another server) is refused if the
  // agent is on another call by then, not taken for it.
  const naming = (path, sid) => (sid ? `${path}?call=${encodeURIComponent(sid)}` : path);
  const onCall = (path, body) => post(naming(path, me && me.call_sid), body);

  // Hold, transfer (cold, or warm after consulting), the interpreter's leg.
  function callControls() {
    const l = legs || {};
    const buttons = [];
    const button = (label, fn, extra = {}) => {
      const b = el("button", {type: "button", ...extra}, label);
      b.addEventListener("click", fn);
      buttons.push(b);
      return b;
    };
    if (l.consult) {
      button("Complete the transfer", () => onCall("transfer/finish", {complete: true}), {class: "accept"});
      button("Cancel the transfer", () => onCall("transfer/finish", {complete: false}));
      return el("div", {class: "buttons"}, ...buttons);
    }
    button(l.held ? "Resume" : "Hold", () => onCall("hold", {hold: !l.held}));
    button(l.interpreter ? "Release the interpreter" : "Add an interpreter",
      () => onCall("interpreter", {on: !l.interpreter}));
    button("Hang up", () => onCall("hang-up"), {class: "hang-up"});
    const target = el("select", {id: "transfer-to"});
    const fill = () => {
      const t = targets || {queues: [], agents: []};
      target.replaceChildren(
        el("optgroup", {label: "Queues"}, ...t.queues.map((q) => el("option", {value: `queue:${q}`}, `queue ${q}`))),
        el("optgroup", {label: "Available agents"}, ...t.agents.map((a) => el("option", {value: `agent:${a.agent_id}`}, a.agent_id))));
    };
    fill();
    const load = () => fetch("/api/agent/transfer-targets", {headers: {"X-Hotline-Background": "1"}})
      .then((r) => (r.ok ? r.json() : null)).then((t) => {
        if (!t || JSON.stringify(t) === JSON.stringify(targets)) return;
        const chosen = target.value;
        targets = t;
        fill();
        if ([...target.options].some((o) => o.value === chosen)) target.value = chosen;
      });
    load();
    target.addEventListener("focus", load);  // (who is available changes all the time)
    target.refresh = load;
    const transfer = (warm) => {
      const [kind, name] = target.value.split(/:(.*)/s);
      if (!name) { actionError.textContent = "Choose where to transfer the call."; return; }
      onCall("transfer", kind === "queue" ? {queue: name} : {agent: name, warm});
    };
    const cold = el("button", {type: "button"}, "Transfer now");
    cold.addEventListener("click", () => transfer(false));
    const warm = el("button", {type: "button"}, "Consult first");
    warm.addEventListener("click", () => transfer(true));
    const controls = el("div", {class: "on-call-actions"},
      el("div", {class: "buttons"}, ...buttons),
      el("div", {class: "transfer"}, el("label", {for: "transfer-to"}, "Transfer to"), target, cold, warm));
    if (l.connected === false) {  // (nothing to hold or transfer until the caller is on the
      // call; a callback's caller still ringing can be hung up: they are not called further)
      for (const c of controls.querySelectorAll("button, select")) {
        c.disabled = !(l.calling_back && c.classList.contains("hang-up"));
      }
    }
    return controls;
  }

  function details(o) {
    const dl = el("dl", {});
    const language = o.language_name ? `${o.language_name} (${o.language})` : o.language;
    const rows = [["Line", `${o.line} (${o.line_number})`], ["Language", language],
      ["Queue", o.queue], ["Caller's number", o.caller],
      ["Waited before the offer", clock((o.waited_seconds || 0) * 1000)],
      ["Call back", o.call_back && `${o.call_back}: they are called once your phone answers`]];
    for (const [k, v] of Object.entries(o.attributes || {})) rows.push([ATTRIBUTE_NAMES[k] || k, v]);
    for (const [k, v] of rows) {
      if (v !== undefined && v !== null) dl.append(el("dt", {}, k), el("dd", {"data-field": k}, String(v)));
    }
    return dl;
  }

  // Close the call: a disposition code of its line, notes, and the state to go to; the
  // wrap-up's time limit closes it with "timeout" if this is not sent in time.
  function wrapUpForm(o) {
    const code = el("select", {id: "wrap-code", name: "code", required: ""},
      ...o.dispositions.map((d) => el("option", {value: d}, d.replaceAll("-", " "))));
    const notes = el("textarea", {id: "wrap-notes", name: "notes", rows: "4", cols: "50",
      maxlength: "2000"});
    const then = el("select", {id: "wrap-then", name: "then"},
      el("option", {value: "available"}, "available"),
      ...["break", "lunch", "training", "meeting", "coaching", "admin-work"]
        .map((r) => el("option", {value: r}, `not ready: ${r.replace("-", " ")}`)));
    // the choice stands if the time runs out before the form is sent (closed "timeout")
    then.addEventListener("change", () => {
      const ready = then.value === "available";
      post(naming("after-wrap-up", o.call_sid), {ready, reason: ready ? "break" : then.value});
    });
    const limit = o.wrap_up_seconds ? ` (at most ${clock(o.wrap_up_seconds * 1000)})` : "";
    const form = el("form", {class: "wrap-up"},
      el("label", {for: "wrap-code"}, "Outcome of the call"), code,
      el("label", {for: "wrap-notes"}, "Notes"), notes,
      el("label", {for: "wrap-then"}, "Then be"), then,
      el("div", {class: "buttons"}, el("button", {type: "submit", class: "accept"}, `Close the call${limit}`)));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const ready = then.value === "available";
      const closed = code.value;
      const answer = await post(naming("wrap-up", o.call_sid), {code: closed, notes: notes.value,
        ready, reason: ready ? "break" : then.value});
      if (answer) announcer.textContent = `Call closed: ${closed.replaceAll("-", " ")}.`;
    });
    return form;
  }

  function drawCall() {
    const state = me ? me.state : "offline";
    callBox.className = "call-panel";
    if (state === "reserved" && offer) {
      callBox.classList.add("offer");
      const accept = el("button", {type: "button", class: "accept"}, "Accept");
      const decline = el("button", {type: "button"}, "Decline");
      accept.addEventListener("click", async () => {
        const taken = await post(`calls/${encodeURIComponent(offer.call_sid)}/accept`);
        if (taken && taken.legs) { setLegs(taken.call_sid, taken.legs); drawCall(); }
      });
      decline.addEventListener("click", () => post(`calls/${encodeURIComponent(offer.call_sid)}/decline`));
      callBox.replaceChildren(el("h3", {}, `Call offered: ${offer.language}, ${(offer.attributes || {}).caller_type || "caller"}`),
        el("p", {class: "timer", "data-timer": "ringing"}, `Ringing ${clock(Date.now() - since)}`),
        details(offer), el("div", {class: "buttons"}, accept, decline));
    } else if (state === "wrap_up" && offer && (offer.dispositions || []).length) {
      callBox.replaceChildren(el("h3", {}, "Wrapping up"),
        el("p", {class: "timer", "data-timer": state}, `Wrapping up ${clock(Date.now() - since)}`),
        wrapUpForm(offer));
    } else if (state === "on_call" && offer) {
      callBox.replaceChildren(el("h3", {}, "On the call"),
        el("p", {class: "timer", "data-timer": state}, `On the call ${clock(Date.now() - since)}`),
        onTheCall(), callControls(), details(offer));
    } else if (state === "wrap_up" && offer) {
      callBox.replaceChildren(el("h3", {}, "Wrapping up"),
        el("p", {class: "timer", "data-timer": state}, `Wrapping up ${clock(Date.now() - since)}`),
        details(offer));
    } else if (state === "not_ready" && me.reason === "consult" && consulted) {
      callBox.replaceChildren(el("h3", {}, "Consulted about a call"),
        el("p", {id: "consulted"}, `${consulted.agent_id} is consulting you about a call; the caller is on hold. ` +
          "If they complete the transfer, the call is yours."));
    } else {
      callBox.replaceChildren(el("p", {class: "idle"}, state === "available"
        ? "Waiting for a call." : "No call offered."));
    }
  }

  async function loadToday() {
    const r = await fetch("/api/agent/today", {headers: {"X-Hotline-Background": "1"}});
    if (!r.ok) return;
    const t = await r.json();
    const rows = [["Calls answered", String(t.answered)], ["Talk time", clock(t.talk_seconds * 1000)],
      ["Average call", t.average_talk_seconds === null ? "–" : clock(t.average_talk_seconds * 1000)]];
    document.getElementById("today").replaceChildren(
      ...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {"data-today": k}, v)]));
  }

  function show(s) {
    const changed = !me || me.state !== s.state || me.call_sid !== s.call_sid;
    if (me && me.call_sid !== s.call_sid && !(legs && legs.call_sid === s.call_sid)) legs = null;
    if (changed) since = Date.now();
    if (changed && (s.state === "wrap_up" || !me)) loadToday();  // a call ended (or the start)
    me = s;
    if (!s.call_sid && s.state !== "wrap_up") offer = null;  // (wrap-up: the call just ended)
    if (s.call_sid && offer && offer.call_sid !== s.call_sid) offer = {call_sid: s.call_sid};
    stateBox.textContent = STATES[s.state] ? `${STATES[s.state]}${s.state === "not_ready" && s.reason ? ` (${s.reason})` : ""}` : s.state;
    stateBox.dataset.state = s.state;
    document.getElementById("go-login").hidden = s.state !== "offline";
    document.getElementById("go-logout").hidden = s.state === "offline";
    // (ready or not is a state of someone logged in to the lines: first, log in)
    for (const id of ["go-ready", "reason", "go-not-ready"]) {
      document.getElementById(id).disabled = s.state === "offline";
    }
    if (changed) drawCall();  // (the same state again keeps what is typed in the panel)
    recordsFollow();
  }

  function banner_(kind, text) {
    banner.className = `banner ${kind}`;
    banner.textContent = text;
    banner.hidden = false;
  }

  function connect() {
    ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/agent/ws`);
    ws.onopen = () => {
      retry = 1000;
      elsewhere.hidden = true;
      if (dropped) {
        dropped = false;
        banner_("back", "Connection to the server is back.");
        setTimeout(() => { banner.hidden = true; }, 5000);
      }
    };
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.type === "hello") {  // (the buttons wait for the session and the agent's state)
        for (const b of document.querySelectorAll(".actions button")) b.disabled = false;
      }
      if (msg.type === "hello" || msg.type === "state" || msg.type === "offer") told += 1;
      if (msg.type === "hello" || msg.type === "state") {
        if (msg.type === "hello" && msg.context) offer = {...(offer || {}), call_sid: msg.call_sid, ...msg.context};
        if (msg.type === "hello") legs = msg.legs ? {...msg.legs, call_sid: msg.call_sid} : null;
        if (msg.type === "hello") me = null;  // (a new connection: draw what it says afresh)
        show(msg);
      } else if (msg.type === "offer") {
        offer = msg;
        show({...me, state: "reserved", call_sid: msg.call_sid});
        drawCall();  // (its state may have come first)
        announcer.textContent = `Call offered: ${msg.language}, ${(msg.attributes || {}).caller_type || "caller"}, on ${msg.line}.`;
      } else if (msg.type === "call") {  // something happened on a call: who is on it now
        const d = msg.data || {};
        if (me && d.to_agent === me.agent_id && msg.kind === "consult") {
          consulted = d.stage === "started" ? {agent_id: d.agent_id, call: msg.call_sid} : null;
          announcer.textContent = consulted ? `${d.agent_id} is consulting you about a call.` : "The consultation ended.";
        } else if (me && d.to_agent === me.agent_id && msg.kind === "transferred") {
          consulted = null;  // the call is theirs now: what it is, and who is on it
          offer = {call_sid: msg.call_sid, ...(msg.context || {})};
          setLegs(msg.call_sid, msg.legs);
          announcer.textContent = `${d.agent_id} transferred the call to you.`;
        } else if (me && msg.call_sid === me.call_sid) {
          setLegs(msg.call_sid, msg.legs);
          if (msg.kind === "supervised") {
            announcer.textContent = d.mode === "left" ? `Supervisor ${d.supervisor} left the call.`
              : `Supervisor ${d.supervisor} ${SUPERVISING[d.mode] || d.mode}.`;
          }
        }
        drawCall();
      } else if (msg.type === "withdrawn") {
        announcer.textContent = "The offer was withdrawn.";
      }
    };
    ws.onclose = (e) => {
      if (e.code === 4401) return window.location.assign("/login");
      if (e.code === 4409) {  // another window took over: it gets the calls now
        elsewhere.hidden = false;
        phone.then((p) => p && p.elsewhere());
        return;
      }
      dropped = true;
      banner_("down", "Connection to the server lost: calls are not shown here. Reconnecting…");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  document.getElementById("take-back").addEventListener("click", () => connect());
  document.getElementById("go-login").addEventListener("click", () => post("login"));
  document.getElementById("go-ready").addEventListener("click", () => post("ready"));
  document.getElementById("go-not-ready").addEventListener("click", () => {
    post(`not-ready?reason=${encodeURIComponent(document.getElementById("reason").value)}`);
  });
  document.getElementById("go-logout").addEventListener("click", () => post("logout"));
  document.getElementById("logoff").addEventListener("click", async () => {
    if (me && me.state !== "offline") await post("logout");  // (after a call, once it ends)
    await fetch("/api/session", {method: "DELETE", headers: {"X-CSRF-Token": csrf}});
    window.location.assign("/login");
  });
  setInterval(() => {  // agents available to transfer to, while on a call
    const target = document.getElementById("transfer-to");
    if (target && target.refresh && document.activeElement !== target) target.refresh();
  }, 5000);
  // Case records: looked up by case number, for a purpose the agent states, on the call
  // they are on; the server shows only what the disclosure policy allows, and says why
  // each other field is withheld.
  const records = document.getElementById("records");
  const recordForm = document.getElementById("record-form");
  const recordResult = document.getElementById("record-result");
  let recordCall = null;  // the call the result shown belongs to
  function recordsFollow() {  // enabled on a call; a result belongs to its call only
    const on = !!(me && me.state === "on_call" && me.call_sid);
    for (const c of recordForm.querySelectorAll("select, input, button")) c.disabled = !on;
    if (on && me.call_sid !== recordCall) { recordResult.replaceChildren(); recordCall = me.call_sid; }
  }
  function showRecord(x) {
    const heading = el("h3", {}, `Case ${x.reference}, for ${x.purpose} (caller verification: ${x.verification})`);
    if (x.status === "not_found") { recordResult.replaceChildren(heading, el("p", {}, `No case ${x.reference}.`)); return; }
    if (x.status === "error") {
      recordResult.replaceChildren(heading, el("p", {class: "error"},
        `The record system did not answer (${x.reason}). The call goes on; try again later.`));
      return;
    }
    const shown = el("dl", {id: "record-shown"}, ...Object.entries(x.disclosed).flatMap(([k, v]) =>
      [el("dt", {}, k), el("dd", {"data-record": k}, v === null ? "–" : String(v))]));
    const withheld = Object.entries(x.withheld);
    recordResult.replaceChildren(heading, shown, ...(withheld.length ? [el("h4", {}, "Withheld"),
      el("ul", {id: "record-withheld"}, ...withheld.map(([k, why]) => el("li", {"data-withheld": k}, `${k}: ${why}`)))] : []));
  }
  fetch("/api/agent/records", {headers: {"X-Hotline-Background": "1"}})
    .then((r) => (r.ok ? r.json() : null)).then((c) => {
      if (!c) return;  // (none set up on this server)
      const purpose = document.getElementById("record-purpose");
      purpose.append(...Object.entries(c.purposes).map(([name, text]) => el("option", {value: name, title: text}, name)));
      records.hidden = false;
      recordsFollow();
    });
  recordForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = {purpose: document.getElementById("record-purpose").value,
      reference: document.getElementById("record-ref").value.trim()};
    recordResult.replaceChildren(el("p", {}, "Looking it up…"));
    const asked = me && me.call_sid;  // (an answer that comes after this call ended is dropped)
    let r, x;
    try {
      r = await send(naming("/api/agent/records/lookup", asked), {method: "POST", body: JSON.stringify(body),
        headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf}});
      x = await r.json();
    } catch (err) {
      if (me && me.call_sid === asked) {
        recordResult.replaceChildren(el("p", {class: "error"}, "The server cannot be reached; try again."));
      }
      return;
    }
    if (r.status === 401) { window.location.assign("/login"); return; }
    if (!me || me.call_sid !== asked) return;
    if (!r.ok) {
      const why = r.status === 422 ? "Choose a purpose and give a case number." : (x.message || `refused (${r.status})`);
      recordResult.replaceChildren(el("p", {class: "error"}, why));
      return;
    }
    showRecord(x);
  });

  // Whether a leg the carrier rings this browser for is one the agent expects: the call
  // they are on (they accepted it, or it was passed to them), or a consultation they are
  // asked into. What this page knows may lag the server, which committed the change before
  // dialling the leg: unless it fits already, the server is asked.
  async function expects(sid) {
    const fits = (s) => !!s && !!sid && ((s.state === "on_call" && s.call_sid === sid)
      || (s.state === "not_ready" && s.reason === "consult"
        && (!consulted || consulted.call === sid)));
    if (fits(me)) return true;
    const r = await fetch("/api/agent/me", {headers: {"X-Hotline-Background": "1"}});
    return r.ok && fits(await r.json());
  }

  setInterval(() => {  // the timers on the call panel
    const t = callBox.querySelector(".timer");
    if (t && me) {
      const what = {ringing: "Ringing", on_call: "On the call", wrap_up: "Wrapping up"}[t.dataset.timer];
      t.textContent = `${what} ${clock(Date.now() - since)}`;
    }
  }, 1000);

  (async () => {
    const r = await fetch("/api/session");
    if (!r.ok) return window.location.assign("/login");
    const who = await r.json();
    csrf = who.csrf;
    document.getElementById("who").textContent = `${who.username} (${who.agent_id || who.role})`;
    if (who.role !== "agent") {
      stateBox.textContent = "This page is for agents.";
      document.getElementById("phone").textContent = "";
      return;
    }
    phone = window.hotlinePhone.start({tokenPath: "/api/agent/voice-token", csrf, expects,
      status: document.getElementById("phone")});
    connect();
  })();
})();
