// The administrators' page: agents' skills, lines' modes, queues and flow versions, over
// /api/admin. A change the validators refuse shows every problem, each under its line of
// the text sent; what is stored stays as it was.
"use strict";
(() => {
  const status = document.getElementById("status");
  const agentsBox = document.getElementById("agents");
  const linesBox = document.getElementById("lines");
  const skillsForm = document.getElementById("skills");
  const skillsProblems = document.getElementById("skills-problems");
  let csrf = null;
  let uid = 0;

  const {el} = window.hotline;
  const id = (stem) => `${stem}-${++uid}`;

  async function api(method, path, body) {
    const headers = {"X-CSRF-Token": csrf};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let r;
    try {
      r = await window.hotline.send(path, {method, headers,
        body: body === undefined ? undefined : JSON.stringify(body)}, (text) => say(text || ""));
    } catch (e) {
      return {ok: false, answer: {message: "The server cannot be reached; nothing was changed."}};
    }
    if (r.status === 401) { window.location.assign("/login"); return {ok: false, answer: {}}; }
    const answer = await r.json();
    return {ok: r.ok, answer};
  }

  function say(text) { status.textContent = text; }

  // An accepted change is in the store; say so honestly if the running server could not
  // take it (a change elsewhere that waits for a restart): then it is not in use yet.
  function saved(answer, text) {
    const notLive = Object.entries(answer.not_live || {});
    if (!notLive.length) { say(text); return; }
    say(`Saved in the store, but not in use until the server restarts: ${notLive
      .map(([line, why]) => `${line}: ${why}`).join("; ")}`);
  }

  function where(p) {
    return p.line ? `line ${p.line}${p.column ? `, column ${p.column}` : ""}: ` : "";
  }
  function problemText(p) { return `${where(p)}${p.message}${p.hint ? ` (fix: ${p.hint})` : ""}`; }

  // The text sent, numbered, with each problem of `file` under its line; the others listed.
  function showProblems(box, text, answer, file) {
    const problems = answer.problems || [{message: answer.message || "refused"}];
    const mine = (p) => p.line && (p.file === file || p.file.endsWith(`/${file}`));
    const list = el("ul", {class: "problems"},
      ...problems.map((p) => el("li", {}, mine(p) ? problemText(p) : `${p.file && !mine(p) && p.line ? `${p.file}, ` : ""}${problemText(p)}`)));
    const lines = text.split("\n");
    const listing = el("ol", {class: "listing", tabindex: "0",
      "aria-label": "The text sent, with the problems at their lines"});
    lines.forEach((row, i) => {
      const here = problems.filter((p) => mine(p) && p.line === i + 1);
      const li = el("li", {class: here.length ? "has-problem" : ""}, el("code", {}, row || " "));
      for (const p of here) li.append(el("p", {class: "problem", "data-line": String(i + 1)}, problemText(p)));
      listing.append(li);
    });
    const shown = problems.some(mine) ? [list, listing] : [list];
    box.replaceChildren(el("p", {class: "error", role: "alert"},
      `Not saved: ${problems.length} problem${problems.length === 1 ? "" : "s"}. What is stored is unchanged.`), ...shown);
  }

  // -- agents

  function parseSkills(text) {
    const skills = {};
    for (const part of text.split(",").map((s) => s.trim()).filter(Boolean)) {
      const m = part.match(/^([A-Za-z0-9_-]+)\s*[ :=]\s*(\d+)$/);
      if (!m) return {error: `“${part}” is not a skill and a level, like “en 4”`};
      skills[m[1]] = Number(m[2]);
    }
    return {skills};
  }
  const skillText = (skills) => Object.entries(skills).map(([k, v]) => `${k} ${v}`).join(", ");

  async function loadAgents() {
    const r = await api("GET", "/api/admin/agents");
    if (!r.ok) { agentsBox.textContent = r.answer.message || "Could not load the agents."; return; }
    const agents = r.answer.agents;
    document.getElementById("agent-ids").replaceChildren(
      ...agents.map((a) => el("option", {value: a.id})));
    const rows = agents.map((a) => {
      const edit = el("button", {type: "button", "aria-label": `Edit the skills of ${a.id}`}, "Edit");
      edit.addEventListener("click", () => {
        skillsForm.agent.value = a.id;
        skillsForm.skills.value = skillText(a.skills);
        skillsForm.skills.focus();
      });
      return el("tr", {"data-agent": a.id}, el("td", {}, a.id), el("td", {}, a.lines.join(", ")),
        el("td", {"data-skills": ""}, skillText(a.skills)), el("td", {}, edit));
    });
    agentsBox.replaceChildren(el("div", {class: "scroll", tabindex: "0", role: "region",
      "aria-label": "Agents"}, el("table", {class: "agents"},
      el("caption", {}, `${agents.length} agents`),
      el("thead", {}, el("tr", {}, ...["Agent", "Lines", "Skills", ""].map((h) => el("th", {scope: "col"}, h)))),
      el("tbody", {}, ...rows))));
  }

  skillsForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    skillsProblems.replaceChildren();
    const agent = skillsForm.agent.value.trim();
    const parsed = parseSkills(skillsForm.skills.value);
    if (parsed.error) { skillsProblems.append(el("li", {class: "error"}, parsed.error)); return; }
    const r = await api("PUT", `/api/admin/agents/${encodeURIComponent(agent)}/skills`, {skills: parsed.skills});
    if (!r.ok) {
      const problems = r.answer.problems || [{message: r.answer.message}];
      skillsProblems.replaceChildren(...problems.map((p) => el("li", {class: "error"}, problemText(p))));
      say(`The skills of ${agent} were not changed.`);
      return;
    }
    saved(r.answer, `Saved: ${agent} now has ${skillText(parsed.skills)}. Used from the next routing decision.`);
    loadAgents();
  });

  // -- lines

  function modeForm(line) {
    const sel = id("mode");
    const select = el("select", {id: sel, name: "mode"},
      ...line.modes.map((m) => {
        const o = el("option", {value: m}, m);
        if (m === line.mode) o.selected = true;
        return o;
      }));
    const form = el("form", {class: "force", "data-form": "mode"},
      el("label", {for: sel}, `Mode of ${line.name}`), select, el("button", {type: "submit"}, "Set mode"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const r = await api("PUT", `/api/admin/lines/${encodeURIComponent(line.name)}/mode`, {mode: select.value});
      if (r.ok) saved(r.answer, `${line.name} is now in ${select.value} mode: new calls hear it.`);
      else say(r.answer.message || "refused");
      if (r.ok) loadLines();
    });
    return form;
  }

  function versionsTable(line) {
    const rows = line.versions.map((v) => {
      const active = v.version === line.flow_version;
      const view = el("a", {href: `/api/admin/lines/${encodeURIComponent(line.name)}/flows/${v.version}`,
        download: ""}, `Download version ${v.version}`);
      const cell = el("td", {}, view);
      if (!active) {
        const label = v.version < line.flow_version ? `Roll back to version ${v.version}` : `Activate version ${v.version}`;
        const b = el("button", {type: "button"}, label);
        b.addEventListener("click", async () => {
          const r = await api("POST", `/api/admin/lines/${encodeURIComponent(line.name)}/flows/${v.version}/active`);
          if (r.ok) saved(r.answer, `Version ${v.version} of ${line.flow} is active on ${line.name}: new calls use it.`);
          else say(r.answer.message || "refused");
          if (r.ok) loadLines();
        });
        cell.append(" ", b);
      }
      return el("tr", {"data-version": String(v.version)}, el("td", {}, String(v.version)),
        el("td", {}, new Date(v.loaded_at * 1000).toLocaleString()),
        el("td", {}, active ? "active" : ""), cell);
    });
    return el("table", {class: "agents"},
      el("caption", {}, `Versions of the flow ${line.flow}`),
      el("thead", {}, el("tr", {}, ...["Version", "Kept since", "State", ""].map((h) => el("th", {scope: "col"}, h)))),
      el("tbody", {}, ...rows));
  }

  function uploadForm(line) {
    const area = id("flow"), file = id("file"), act = id("activate");
    const problems = el("div", {class: "problem-box", "aria-live": "polite"});
    const textarea = el("textarea", {id: area, name: "text", rows: "12", cols: "90", required: "",
      spellcheck: "false"});
    const picker = el("input", {type: "file", id: file, accept: ".yaml,.yml,text/yaml"});
    picker.addEventListener("change", async () => {
      if (picker.files.length) textarea.value = await picker.files[0].text();
    });
    const activate = el("input", {type: "checkbox", id: act, name: "activate"});
    activate.checked = true;
    const form = el("form", {class: "upload", "data-form": "flow"},
      el("label", {for: area}, `New version of the flow ${line.flow} (YAML)`), textarea,
      el("div", {}, el("label", {for: file}, "Or read it from a file "), picker),
      el("div", {}, activate, el("label", {for: act}, " Make it active at once")),
      el("button", {type: "submit"}, "Upload"), problems);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = textarea.value;
      const r = await api("POST", `/api/admin/lines/${encodeURIComponent(line.name)}/flows`,
        {text, activate: activate.checked});
      if (!r.ok) {
        showProblems(problems, text, r.answer, line.flow_file);
        say(`The upload was refused; version ${line.flow_version} stays active.`);
        return;
      }
      const res = r.answer.result;
      saved(r.answer, `Version ${res.version} of ${res.flow} kept${res.active ? " and active: new calls use it" : ""}.`);
      loadLines();
    });
    return form;
  }

  function queueForm(line, q) {
    const area = id("queue");
    const problems = el("div", {class: "problem-box", "aria-live": "polite"});
    const textarea = el("textarea", {id: area, rows: String(Math.max(4, q.text.split("\n").length + 1)),
      cols: "70", spellcheck: "false"});
    textarea.value = q.text;
    const form = el("form", {class: "upload", "data-queue": q.name},
      el("label", {for: area}, `Queue ${q.name} of ${line.name} (YAML)`), textarea,
      el("button", {type: "submit"}, `Save queue ${q.name}`), problems);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = textarea.value;
      const r = await api("PUT", `/api/admin/lines/${encodeURIComponent(line.name)}/queues/${encodeURIComponent(q.name)}`, {text});
      if (!r.ok) {
        showProblems(problems, text, r.answer, `queue ${q.name}`);
        say(`Queue ${q.name} was not changed.`);
        return;
      }
      problems.replaceChildren();
      saved(r.answer, `Queue ${q.name} of ${line.name} saved: used from the next routing decision.`);
    });
    return el("details", {}, el("summary", {}, `Queue ${q.name} (${q.steps} step${q.steps === 1 ? "" : "s"})`), form);
  }

  async function loadLines() {
    const r = await api("GET", "/api/admin/lines");
    if (!r.ok) { linesBox.textContent = r.answer.message || "Could not load the lines."; return; }
    const open = new Set([...linesBox.querySelectorAll("details[open] > summary")].map((s) => s.textContent));
    const sections = r.answer.lines.map((line) => {
      const section = el("section", {class: "line", "data-line": line.name, "aria-label": line.name},
        el("h3", {}, `${line.name} (${line.number}, ${line.timezone})`),
        el("p", {"data-mode": line.mode}, `Mode: ${line.mode}. Flow: ${line.flow || "none"}` +
          (line.flow ? `, version ${line.flow_version} active.` : ".")),
        modeForm(line));
      if (line.flow) {
        section.append(versionsTable(line),
          el("details", {}, el("summary", {}, `Upload a new version of ${line.flow}`), uploadForm(line)));
      }
      section.append(el("h4", {}, "Queues and their escalation steps"), ...line.queues.map((q) => queueForm(line, q)));
      return section;
    });
    linesBox.replaceChildren(...sections);
    for (const d of linesBox.querySelectorAll("details")) {
      if (open.has(d.querySelector("summary").textContent)) d.open = true;
    }
  }

  document.getElementById("logoff").addEventListener("click", async () => {
    await api("DELETE", "/api/session");
    window.location.assign("/login");
  });

  (async () => {
    const r = await fetch("/api/session");
    if (!r.ok) return window.location.assign("/login");
    const me = await r.json();
    csrf = me.csrf;
    document.getElementById("who").textContent = `${me.username} (${me.role})`;
    if (me.role !== "admin") {
      say("This page is for administrators.");
      agentsBox.replaceChildren();
      linesBox.replaceChildren();
      return;
    }
    await Promise.all([loadAgents(), loadLines()]);
  })();
})();
