"""The browser pages: server-rendered shells and small scripts, no build step. `/login`
(the system-use banner, then name, password and code), `/wallboard` (supervisors and
administrators), `/admin` (administrators: the lines' stored configuration) and
`/desktop` (agents: state, offers, the call) and `/audit` (auditors: search the audit
trail, the latest checkpoint); a page asks `/api/session` and goes to
`/login` without one. Each page
runs under a Content-Security-Policy that loads nothing from elsewhere and no inline code;
the desktop and the wallboard, with a browser phone set up, may also connect to where it
signals (the carrier's, or the emulator's)."""

from __future__ import annotations

from html import escape
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from hotline.service.settings import Settings

STATIC = Path(__file__).parent / "static"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer"}  # fmt: skip
# where Twilio's voice SDK connects by default: its signalling edges and its insights
CARRIER_PHONE = ("wss://*.twilio.com", "https://*.twilio.com")


def phone_headers(settings: Settings) -> dict[str, str]:
    """The headers of a page with the browser phone: it may also connect to where the phone
    signals (the carrier's edges, or HOTLINE_TWILIO_SIGNAL_URL's origin); unchanged when
    no browser phone is set up."""
    if settings.twilio_api_key is None or settings.twilio_api_secret is None:
        return HEADERS
    signal = settings.twilio_signal_url
    origins = (f"wss://{urlsplit(signal).netloc}",) if signal else CARRIER_PHONE
    csp = CSP.replace("connect-src 'self'", f"connect-src 'self' {' '.join(origins)}")
    return {**HEADERS, "Content-Security-Policy": csp}


def _page(title: str, body: str, *scripts: str) -> str:
    tags = "\n".join(f'<script src="/static/{script}" defer></script>' for script in scripts)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · Hotline</title>
<link rel="stylesheet" href="/static/hotline.css">
<script src="/static/page.js" defer></script>
{tags}
</head>
<body>
{body}
</body>
</html>
"""


LOGON = _page(
    "Log on",
    """<header><h1>Hotline</h1></header>
<main>
<form id="logon" class="logon" aria-labelledby="logon-title">
  <h2 id="logon-title">Log on</h2>
  <p id="notice" class="notice" role="note">Loading the system-use notice…</p>
  <label class="ack"><input type="checkbox" name="ack" required> I have read and accept the
  notice above.</label>
  <label for="username">User name</label>
  <input type="text" id="username" name="username" autocomplete="username" required>
  <label for="password">Password</label>
  <input type="password" id="password" name="password" autocomplete="current-password" required>
  <label for="code">Code from your authenticator app</label>
  <input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code"
         pattern="[0-9]{6}" maxlength="6">
  <p id="error" class="error" role="alert" aria-live="assertive"></p>
  <button type="submit">Log on</button>
</form>
</main>""",
    "logon.js",
)

WALLBOARD = _page(
    "Wallboard",
    """<header><h1>Wallboard</h1>
<nav aria-label="Pages" id="nav" hidden><a href="/admin">Administration</a></nav>
<span id="who"></span>
<button type="button" id="logoff">Log off</button></header>
<div id="connection" class="banner" role="status" aria-live="assertive" hidden></div>
<main>
<p id="phone" class="phone-status wide" role="status" aria-live="polite">Browser phone: …</p>
<p id="supervise-result" class="supervise-result" role="status" aria-live="polite"></p>
<form id="force" class="force" aria-labelledby="force-title">
  <h2 id="force-title">Set an agent's state</h2>
  <label for="force-agent">Agent</label>
  <input type="text" id="force-agent" name="agent" required maxlength="64">
  <label for="force-state">State</label>
  <select id="force-state" name="state">
    <option value="not_ready">not ready</option>
    <option value="available">available</option>
    <option value="offline">logged out</option>
  </select>
  <label for="force-reason">Reason</label>
  <input type="text" id="force-reason" name="reason" required maxlength="64">
  <button type="submit">Set</button>
  <span id="force-result" role="status" aria-live="polite"></span>
</form>
<div id="board" aria-live="off"><p>Loading…</p></div>
<div id="announcer" class="visually-hidden" role="status" aria-live="polite"></div>
</main>""",
    "phone.js",
    "wallboard.js",
)


ADMIN = _page(
    "Administration",
    """<header><h1>Administration</h1>
<nav aria-label="Pages"><a href="/wallboard">Wallboard</a></nav><span id="who"></span>
<button type="button" id="logoff">Log off</button></header>
<main>
<p id="status" role="status" aria-live="polite"></p>
<section aria-labelledby="agents-title">
  <h2 id="agents-title">Agents and their skills</h2>
  <form id="skills" class="force" aria-labelledby="skills-title">
    <h3 id="skills-title">Set an agent's skills</h3>
    <label for="skills-agent">Agent</label>
    <input type="text" id="skills-agent" name="agent" required maxlength="64"
           list="agent-ids" autocomplete="off">
    <datalist id="agent-ids"></datalist>
    <label for="skills-text">Skills</label>
    <input type="text" id="skills-text" name="skills" required maxlength="400" size="30"
           aria-describedby="skills-help">
    <span id="skills-help" class="help">as skill level pairs, e.g. <code>en 5, es 3</code>
    (levels 1 to 5)</span>
    <button type="submit">Save skills</button>
  </form>
  <ul id="skills-problems" class="problems" aria-live="polite"></ul>
  <div id="agents"><p>Loading…</p></div>
</section>
<section aria-labelledby="lines-title">
  <h2 id="lines-title">Lines, modes, queues and flows</h2>
  <div id="lines"><p>Loading…</p></div>
</section>
</main>""",
    "admin.js",
)


DESKTOP = _page(
    "Agent desktop",
    """<header><h1>Agent desktop</h1><span id="who"></span>
<button type="button" id="logoff">Log off</button></header>
<div id="connection" class="banner" role="status" aria-live="assertive" hidden></div>
<div id="elsewhere" class="banner down" role="alert" hidden>This desktop is open in another
window, which gets your calls now.
<button type="button" id="take-back">Use this window</button></div>
<main class="desktop">
<section class="state" aria-labelledby="state-title">
  <h2 id="state-title">Your state</h2>
  <p id="state" class="state-now" role="status" aria-live="polite">Connecting…</p>
  <div class="actions">
    <button type="button" id="go-login" disabled>Log in to the lines</button>
    <button type="button" id="go-ready" disabled>Available</button>
    <label for="reason">Not ready because</label>
    <select id="reason">
      <option value="break">break</option><option value="lunch">lunch</option>
      <option value="training">training</option><option value="meeting">meeting</option>
      <option value="coaching">coaching</option><option value="admin-work">admin work</option>
    </select>
    <button type="button" id="go-not-ready" disabled>Not ready</button>
    <button type="button" id="go-logout" disabled>Log out of the lines</button>
  </div>
  <p id="action-error" class="error" role="alert"></p>
  <p id="phone" class="phone-status" role="status" aria-live="polite">Browser phone: …</p>
  <h2 id="today-title">Today</h2>
  <dl id="today" class="today" aria-labelledby="today-title"></dl>
</section>
<section class="call" aria-labelledby="call-title">
  <h2 id="call-title">Call</h2>
  <div id="call" class="call-panel"><p class="idle">No call offered.</p></div>
  <section id="records" class="records" aria-labelledby="records-title" hidden>
    <h2 id="records-title">Case record</h2>
    <form id="record-form">
      <label for="record-purpose">Purpose</label>
      <select id="record-purpose" required disabled>
        <option value="">Choose the purpose first</option></select>
      <label for="record-ref">Case number</label>
      <input id="record-ref" maxlength="64" autocomplete="off" spellcheck="false" required disabled>
      <button type="submit" id="record-go" disabled>Look up</button>
    </form>
    <p class="note">During a call. Only what the disclosure policy allows for the purpose
    and the caller's verification is shown; every look-up is audited.</p>
    <div id="record-result" aria-live="polite"></div>
  </section>
</section>
<div id="announcer" class="visually-hidden" role="alert"></div>
</main>""",
    "phone.js",
    "desktop.js",
)


AUDIT = _page(
    "Audit trail",
    """<header><h1>Audit trail</h1><span id="who"></span>
<button type="button" id="logoff">Log off</button></header>
<main>
<p id="status" class="status-line" role="status" aria-live="polite"></p>
<section id="checkpoint-section" class="checkpoint" aria-labelledby="checkpoint-title">
  <h2 id="checkpoint-title">Latest signed checkpoint</h2>
  <p id="checkpoint">Loading…</p>
  <p class="help">What you see here comes from the server. To check that the trail is
  intact without trusting it, run <code>hotline audit verify --key VERIFIER</code> (the
  verifier key from whoever keeps the signing key) against the database and the checkpoint
  sink, and <code>hotline audit prove N</code> for one entry's proof against the latest
  checkpoint. Every search here is itself recorded in the trail.</p>
</section>
<form id="search" class="search" aria-labelledby="search-title">
  <h2 id="search-title">Search the trail</h2>
  <div class="fields">
    <label for="f-actor">Actor</label>
    <input type="text" id="f-actor" name="actor" maxlength="128" autocomplete="off">
    <label for="f-action">Action</label>
    <input type="text" id="f-action" name="action" maxlength="64" autocomplete="off"
           aria-describedby="f-action-help" spellcheck="false">
    <span id="f-action-help" class="help">exact, like <code>session.logon</code>, or a
    prefix ending in a dot, like <code>record.</code></span>
    <label for="f-object">Object</label>
    <input type="text" id="f-object" name="object" maxlength="128" autocomplete="off"
           aria-describedby="f-object-help" spellcheck="false">
    <span id="f-object-help" class="help">exact, like <code>case:123</code>, or a prefix
    ending in *, like <code>case:*</code></span>
    <label for="f-outcome">Outcome</label>
    <select id="f-outcome" name="outcome">
      <option value="">any</option><option value="ok">ok</option>
      <option value="refused">refused</option><option value="error">error</option>
    </select>
    <label for="f-since">Since (UTC)</label>
    <input type="text" id="f-since" name="since" maxlength="40" autocomplete="off"
           aria-describedby="f-time-help" spellcheck="false">
    <label for="f-until">Until (UTC)</label>
    <input type="text" id="f-until" name="until" maxlength="40" autocomplete="off"
           aria-describedby="f-time-help" spellcheck="false">
    <span id="f-time-help" class="help">a date, like <code>2026-11-30</code> (as Until, the
    whole day is included), or a time, like <code>2026-11-30T08:00Z</code></span>
    <label for="f-limit">Per page</label>
    <select id="f-limit" name="limit">
      <option value="25">25</option><option value="100" selected>100</option>
      <option value="500">500</option>
    </select>
  </div>
  <button type="submit">Search</button>
  <p id="search-error" class="error" role="alert"></p>
</form>
<section id="results-section" aria-labelledby="results-title">
  <h2 id="results-title">Entries, newest first</h2>
  <nav class="paging" aria-label="Pages of entries">
    <button type="button" id="newer" disabled>Newer</button>
    <button type="button" id="older" disabled>Older</button>
  </nav>
  <div id="results" class="results"><p>Loading…</p></div>
</section>
</main>""",
    "audit.js",
)


def pages_router(settings: Settings) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    with_phone = phone_headers(settings)

    @router.get("/")
    def home() -> RedirectResponse:
        return RedirectResponse("/login", status_code=303)

    @router.get("/login")
    def log_on() -> HTMLResponse:
        return HTMLResponse(LOGON, headers=HEADERS)

    @router.get("/wallboard")
    def wallboard() -> HTMLResponse:
        return HTMLResponse(WALLBOARD, headers=with_phone)

    @router.get("/admin")
    def admin() -> HTMLResponse:
        return HTMLResponse(ADMIN, headers=HEADERS)

    @router.get("/desktop")
    def desktop() -> HTMLResponse:
        return HTMLResponse(DESKTOP, headers=with_phone)

    @router.get("/audit")
    def audit() -> HTMLResponse:
        return HTMLResponse(AUDIT, headers=HEADERS)

    return router


def mount(app: FastAPI, settings: Settings) -> None:
    app.include_router(pages_router(settings))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
