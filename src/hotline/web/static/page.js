// What every page's script shares (loaded first): building elements as text, never HTML,
// showing a duration, and sending a person's request.
"use strict";
// Answers that say nothing was done and to ask again shortly: the line stopped on the
// server asked (handed to another node, or the server stops), or no node leads it yet (a
// takeover under way). Sent again after the answer's Retry-After for up to TRY_FOR ms (a
// takeover takes under 15 s); anything else is the caller's to show.
const AGAIN = new Set(["line-stopped", "standby"]);
const TRY_FOR = 30000;
const pause = (ms) => new Promise((done) => setTimeout(done, ms));
// The last request held back while a line moves (to be sent again, or waiting behind one
// that is): a request asked later waits for it before it is sent, so the server takes a
// person's requests in the order they asked them (an agent's "not ready" clicked while
// their "available" waits to be sent again must not be overtaken by it).
let held = null;
window.hotline = Object.freeze({
  // fetch(url, init), sent again while the answer is a 503 that says nothing was done
  // (`waiting(text)` is told why, then `waiting(null)` once that is over), and sent only
  // once the requests held back before it are answered; a network failure is thrown as
  // fetch throws it (the request may have been done: never repeated)
  async send(url, init, waiting) {
    const until = Date.now() + TRY_FOR;
    let told = false;
    let before = null;  // the request held back before this one: answered first
    let mine = null;
    let release = null;
    const hold = () => {  // this one is held back too: the next waits for it
      before = held;
      mine = new Promise((done) => { release = done; });
      held = mine;
    };
    const tell = () => {
      if (waiting && !told) {
        waiting("The line is moving to another server; trying again…");
        told = true;
      }
    };
    try {
      if (held) {
        hold();
        tell();
      }
      for (;;) {
        if (before) {
          await before;
          before = null;
        }
        const r = await fetch(url, init);
        if (r.status !== 503 || Date.now() >= until) return r;
        const said = await r.clone().json().catch(() => ({}));
        if (!AGAIN.has(said.error_id)) return r;
        tell();
        if (!mine) hold();
        const after = Number(r.headers.get("Retry-After"));
        await pause(1000 * (after > 0 ? Math.min(after, 5) : 2));
      }
    } finally {
      if (release) {
        release();
        if (held === mine) held = null;
      }
      if (waiting && told) waiting(null);
    }
  },
  // an element with attributes and children (strings become text nodes, never markup)
  el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    for (const c of children) e.append(c);
    return e;
  },
  // seconds as m:ss
  clock(seconds) {
    const t = Math.max(0, Math.round(seconds || 0));
    return `${Math.floor(t / 60)}:${String(t % 60).padStart(2, "0")}`;
  },
});
