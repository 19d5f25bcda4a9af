// What every page's script shares (loaded first): building elements as text, never HTML,
// and showing a duration.
"use strict";
window.hotline = Object.freeze({
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
