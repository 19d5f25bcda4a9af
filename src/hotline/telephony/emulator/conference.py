"""The emulated carrier's conferences: who is in each, who hears whom, a log of what changed,
and the REST subset of Twilio's Conferences and Participants that Hotline calls.

The calls' behaviour in time (ringing a participant, a caller waiting in a conference) is the
carrier's (`carrier.py`); here are the conference's state and its transitions, which happen
at once (a REST request changes who hears whom before it answers)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import FormData, ImmutableMultiDict

if TYPE_CHECKING:
    from hotline.telephony.emulator.carrier import Carrier, EmulatedCall

CONFERENCE_SID = re.compile(r"CF[0-9a-f]{32}")
EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})
STATUSES = ("init", "in-progress", "completed")
# the emulator's error codes, in the carrier's style
NOT_FOUND = 20404
INVALID_PARAMETER = 21200
INVALID_URL = 21205
FROM_REQUIRED = 21603
TO_REQUIRED = 21604
CONFERENCE_ENDED = 21220


@dataclass(eq=False)
class Participant:
    """One call in a conference, from the moment it is dialled until it leaves: its flags, as
    the REST API and TwiML set them, and when it joined (carrier time)."""

    label: str
    call: EmulatedCall
    to: str  # client:NAME, sip:..., or a number (for a caller who dialled in: the line's)
    from_: str = ""
    muted: bool = False
    hold: bool = False
    coaching: bool = False
    call_sid_to_coach: str | None = None
    end_conference_on_exit: bool = False
    status: str = "queued"  # queued, ringing, connected, complete (Twilio's)
    joined: float | None = None
    dialled_in: bool = False  # by <Dial><Conference> (a caller), not added by the REST API
    talk_from: float | None = None  # a caller's talk counts from when someone else is there
    status_callback: str = ""
    events: frozenset[str] = frozenset({"completed"})
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # it left, or its talk began

    @property
    def call_sid(self) -> str:
        return self.call.sid


@dataclass(eq=False)
class Conference:
    """A conference room: the participants dialled into it or in it, its status (init,
    in-progress, completed) and an append-only log of (carrier time, label, what)."""

    name: str
    sid: str
    account_sid: str
    created: float = field(default_factory=time.time)  # wall time, for date_created
    status: str = "init"
    participants: dict[str, Participant] = field(default_factory=dict)  # by call sid
    log: list[tuple[float, str, str]] = field(default_factory=list)
    ended_by: str | None = None  # the call sid whose leaving ended it
    reason: str | None = None
    on_change: Callable[[], None] = lambda: None

    def find(self, sid_or_label: str) -> Participant | None:
        """A participant by its call sid or its label (as the REST API addresses them)."""
        found = self.participants.get(sid_or_label)
        return found or next(
            (p for p in self.participants.values() if p.label == sid_or_label), None
        )

    def joined(self) -> list[Participant]:
        """Those in the conference now (not those still ringing)."""
        return [p for p in self.participants.values() if p.status == "connected"]

    def hears(self) -> set[tuple[str, str]]:
        """(listener, speaker) label pairs among those in the conference: a speaker is heard
        unless muted or on hold, by listeners not on hold (they hear hold music), and a coach
        only by the participant they coach."""
        return {
            (listener.label, speaker.label)
            for listener in self.joined()
            for speaker in self.joined()
            if listener is not speaker
            and not speaker.muted
            and not speaker.hold
            and not listener.hold
            and (not speaker.coaching or speaker.call_sid_to_coach == listener.call_sid)
        }

    # -- transitions (at carrier time `now`)

    def note(self, now: float, label: str, what: str) -> None:
        """A line in the log (and a change, for those waiting on one)."""
        self.log.append((now, label, what))
        self.on_change()

    def add(self, p: Participant) -> None:
        """`p` is being dialled into the conference (queued)."""
        self.participants[p.call_sid] = p
        self.on_change()

    def ring(self, p: Participant) -> None:
        if p.status == "queued":  # not taken out while it was being dialled
            p.status = "ringing"
            self.on_change()

    def join(self, p: Participant, now: float) -> None:
        """`p` answered and is in: who it is with starts talking, callers are answered."""
        p.status, p.joined = "connected", now
        self.status = "in-progress"
        self.note(now, p.label, "joined")
        for what, on in (("muted", p.muted), ("hold", p.hold)):
            if on:
                self.note(now, p.label, what)
        coached = self.participants.get(p.call_sid_to_coach or "")
        if p.coaching and coached is not None:
            self.note(now, p.label, f"coaching {coached.label}")
        present = self.joined()
        if len(present) > 1:  # someone to talk to: the callers' talk starts now
            for q in present:
                if q.dialled_in and q.talk_from is None:
                    q.talk_from = now
                    q.wake.set()
        if p.dialled_in or p.to.startswith("client:"):
            self._answered(now)

    def _answered(self, now: float) -> None:
        """Who answered the callers in the conference: the agent (client) who joined last."""
        agents = sorted(
            (q for q in self.joined() if client_identity(q.to) is not None),
            key=lambda q: q.joined or 0.0,
        )
        if not agents:
            return
        agent = client_identity(agents[-1].to) or ""
        for caller in (q for q in self.joined() if q.dialled_in):
            call = caller.call
            call.agent = agent
            if call.answered_after is None:  # a caller who waited in the conference: since then
                since = call.queued_at if call.queued_at is not None else caller.joined
                call.answered_after = now - (now if since is None else since)
            if call.outcome == "in-progress":
                call.outcome = "answered"

    def no_answer(self, p: Participant, now: float) -> None:
        """A participant whose phone rang out: it never joined."""
        self.participants.pop(p.call_sid, None)
        p.status = "complete"
        self.note(now, p.label, "no-answer")
        if self.status == "in-progress" and not self.participants:
            self.end(now, reason="last-participant-left")

    def leave(self, p: Participant, now: float) -> None:
        """`p` leaves (or stops ringing); one with endConferenceOnExit ends the conference,
        and so does the last one to leave, as Twilio's conferences end."""
        if self.participants.pop(p.call_sid, None) is None:
            return
        was_in = p.status == "connected"
        p.status = "complete"
        p.wake.set()
        if was_in:
            self.note(now, p.label, "left")
        else:
            self.on_change()
        if self.status == "completed":
            return
        if was_in and p.end_conference_on_exit:
            self.end(now, by=p, reason="participant-with-end-conference-on-exit-left")
        elif self.status == "in-progress" and not self.participants:
            self.end(now, by=p, reason="last-participant-left")

    def end(self, now: float, by: Participant | None = None, reason: str = "") -> None:
        """The conference ends: everyone in it leaves, everyone ringing stops ringing."""
        if self.status == "completed":
            return
        self.status = "completed"
        self.ended_by = by.call_sid if by else None
        self.reason = reason or "conference-ended-via-api"
        for p in list(self.participants.values()):
            self.leave(p, now)
        self.note(now, by.label if by else "", "ended")

    def set_flags(
        self,
        p: Participant,
        now: float,
        *,
        hold: bool | None = None,
        muted: bool | None = None,
        end_on_exit: bool | None = None,
    ) -> None:
        """Change `p`'s flags (None: unchanged), logging each change."""
        if hold is not None and hold != p.hold:
            p.hold = hold
            self.note(now, p.label, "hold" if hold else "resume")
        if muted is not None and muted != p.muted:
            p.muted = muted
            self.note(now, p.label, "muted" if muted else "unmuted")
        if end_on_exit is not None:
            p.end_conference_on_exit = end_on_exit
            self.on_change()

    def coach(self, p: Participant, now: float, coached: Participant | None) -> None:
        """`p` coaches `coached` (heard by them only), or stops coaching (None)."""
        if coached is None:
            if p.coaching:
                p.coaching, p.call_sid_to_coach = False, None
                self.note(now, p.label, "coaching off")
            return
        if not p.coaching or p.call_sid_to_coach != coached.call_sid:
            p.coaching, p.call_sid_to_coach = True, coached.call_sid
            self.note(now, p.label, f"coaching {coached.label}")

    # -- how the REST API shows it

    def json(self, base: str) -> dict[str, Any]:
        uri = f"{base}/Conferences/{self.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "call_sid_ending_conference": self.ended_by,
            "date_created": rfc2822(self.created),
            "date_updated": rfc2822(self.created),
            "friendly_name": self.name,
            "reason_conference_ended": self.reason,
            "region": "us1",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {
                "participants": f"{uri}/Participants.json",
                "recordings": f"{uri}/Recordings.json",
            },
            "uri": f"{uri}.json",
        }

    def participant_json(self, p: Participant, base: str) -> dict[str, Any]:
        return {
            "account_sid": self.account_sid,
            "call_sid": p.call_sid,
            "call_sid_to_coach": p.call_sid_to_coach,
            "coaching": p.coaching,
            "conference_sid": self.sid,
            "date_created": rfc2822(self.created),
            "date_updated": rfc2822(self.created),
            "end_conference_on_exit": p.end_conference_on_exit,
            "hold": p.hold,
            "label": p.label,
            "muted": p.muted,
            "start_conference_on_enter": True,
            "status": p.status,
            "queue_time": "0",
            "uri": f"{base}/Conferences/{self.sid}/Participants/{p.call_sid}.json",
        }

    def inspection(self) -> dict[str, Any]:
        """The emulator's own view (not Twilio's): flags, who hears whom, and the log."""
        return {
            "name": self.name,
            "sid": self.sid,
            "status": self.status,
            "participants": [
                {
                    "label": p.label,
                    "call_sid": p.call_sid,
                    "to": p.to,
                    "status": p.status,
                    "muted": p.muted,
                    "hold": p.hold,
                    "coaching": p.coaching,
                    "call_sid_to_coach": p.call_sid_to_coach,
                    "end_conference_on_exit": p.end_conference_on_exit,
                    "joined": p.joined,
                    "answered_by": p.call.answered_by,
                }
                for p in self.participants.values()
            ],
            "hears": [list(pair) for pair in sorted(self.hears())],
            "log": [list(entry) for entry in self.log],
        }


def client_identity(to: str) -> str | None:
    """NAME of a client address (`client:NAME`, or `client:NAME?custom=parameters`); None
    for a phone number or SIP address."""
    if not to.startswith("client:"):
        return None
    return to.removeprefix("client:").partition("?")[0]


def rfc2822(t: float) -> str:
    """A time as the REST API writes dates."""
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t))


class BadParameter(Exception):
    """A REST parameter the carrier refuses: answered 400 with the carrier's error code."""

    def __init__(self, message: str, code: int = INVALID_PARAMETER) -> None:
        super().__init__(message)
        self.code = code


def boolean(form: ImmutableMultiDict[str, Any], key: str) -> bool | None:
    """A boolean parameter as the carrier reads it ("true"/"false", any case); None if absent."""
    raw = form.get(key)
    if raw is None:
        return None
    value = str(raw).strip().lower()
    if value not in ("true", "false"):
        raise BadParameter(f"{key} must be true or false, not {str(raw)[:40]!r}")
    return value == "true"


def twiml_flag(value: str | None) -> bool:
    """A TwiML boolean attribute: true only when it says so."""
    return (value or "").strip().lower() == "true"


def error(status: int, code: int, message: str) -> JSONResponse:
    """An error answer in the carrier's JSON, which the twilio client turns into its exception."""
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status,
    )


def page(key: str, uri: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """One page holding every item (the emulator has no more than fits)."""
    return {
        key: items,
        "end": max(len(items) - 1, 0),
        "first_page_uri": f"{uri}?PageSize=50&Page=0",
        "next_page_uri": None,
        "page": 0,
        "page_size": 50,
        "previous_page_uri": None,
        "start": 0,
        "uri": f"{uri}?PageSize=50&Page=0",
    }


def add_conference_api(
    app: FastAPI, carrier: Carrier, base: str, authorised: Callable[[Request], bool]
) -> None:
    """Serve the Conferences and Participants REST subset on `app` (under `base`, the
    account's path), and the emulator's inspection endpoint."""
    unauthorised = {"code": 20003, "message": "Authenticate", "status": 401}

    @app.exception_handler(BadParameter)
    async def bad_parameter(request: Request, e: BadParameter) -> JSONResponse:
        return error(400, e.code, str(e))

    def conference_or_404(sid: str) -> Conference | JSONResponse:
        conference = carrier.conference(sid)
        if conference is None:
            return error(404, NOT_FOUND, f"The requested resource {sid} was not found")
        return conference

    def target(
        conference: Conference | None, form: FormData, coach: Participant | None
    ) -> Participant | None:
        """The participant `CallSidToCoach` names (None: coaching off), checked: it must be
        another call in the same conference."""
        if boolean(form, "Coaching") is False:
            return None
        sid = str(form.get("CallSidToCoach") or "") or (coach.call_sid_to_coach if coach else "")
        if not sid:
            raise BadParameter("Coaching requires CallSidToCoach")
        coached = conference.participants.get(sid) if conference else None
        if coached is None or coached is coach:
            raise BadParameter(f"CallSidToCoach {sid} is not another call in this conference")
        return coached

    def participant_or_404(sid: str, who: str) -> tuple[Conference, Participant] | JSONResponse:
        conference = conference_or_404(sid)
        if isinstance(conference, JSONResponse):
            return conference
        p = conference.find(who)
        if p is None:
            return error(404, NOT_FOUND, f"The requested resource {who} was not found")
        return conference, p

    @app.get(base + "/Conferences.json")
    async def conferences(request: Request) -> JSONResponse:
        if not authorised(request):
            return JSONResponse(unauthorised, 401)
        name, status = request.query_params.get("FriendlyName"), request.query_params.get("Status")
        if status is not None and status not in STATUSES:
            raise BadParameter(f"Status must be one of {', '.join(STATUSES)}")
        found = [
            c.json(base)
            for c in carrier.conferences.values()
            if (name is None or c.name == name) and (status is None or c.status == status)
        ]
        return JSONResponse(page("conferences", f"{base}/Conferences.json", found))

    @app.get(base + "/Conferences/{sid}.json")
    async def fetch_conference(request: Request, sid: str) -> JSONResponse:
        if not authorised(request):
            return JSONResponse(unauthorised, 401)
        conference = conference_or_404(sid)
        if isinstance(conference, JSONResponse):
            return conference
        return JSONResponse(conference.json(base))

    @app.post(base + "/Conferences/{sid}.json")
    async def update_conference(request: Request, sid: str) -> JSONResponse:
        if not authorised(request):
            return JSONResponse(unauthorised, 401)
        form = await request.form()
        conference = conference_or_404(sid)
        if isinstance(conference, JSONResponse):
            return conference
        status = form.get("Status")
        if status is not None and status != "completed":
            raise BadParameter("Status can only be completed")
        if status == "completed":
            conference.end(carrier.now())
        return JSONResponse(conference.json(base))

    @app.get(base + "/Conferences/{sid}/Participants.json")
    async def participants(request: Request, sid: str) -> JSONResponse:
        if not authorised(request):
            return JSONResponse(unauthorised, 401)
        conference = conference_or_404(sid)
        if isinstance(conference, JSONResponse):
            return conference
        wanted = {k: boolean(request.query_params, k) for k in ("Muted", "Hold", "Coaching")}
        found = [
            conference.participant_json(p, base)
            for p in conference.participants.values()
            if all(want is None or getattr(p, k.lower()) == want for k, want in wanted.items())
        ]
        uri = f"{base}/Conferences/{conference.sid}/Participants.json"
        return JSONResponse(page("participants", uri, found))

    @app.post(base + "/Conferences/{sid}/Participants.json")
    async def add_participant(request: Request, sid: str) -> JSONResponse:
        if not authorised(request):
            return JSONResponse(unauthorised, 401)
        form = await request.form()
        to, from_ = str(form.get("To") or ""), str(form.get("From") or "")
        if not to:
            raise BadParameter("A 'To' is required", TO_REQUIRED)
        if not from_:
            raise BadParameter("A 'From' is required", FROM_REQUIRED)
        if CONFERENCE_SID.fullmatch(sid):
            found = conference_or_404(sid)
            if isinstance(found, JSONResponse):
                return found
            if found.status == "completed":
                raise BadParameter(f"Conference {sid} has ended", CONFERENCE_ENDED)
            conference: Conference | None = found
        else:  # a friendly name: that conference, or a new one (made once all is checked)
            live = carrier.conferences.get(sid)
            conference = live if live is not None and live.status != "completed" else None
        callback = str(form.get("StatusCallback") or "")
        if callback and not callback.startswith(("http://", "https://")):
            raise BadParameter(f"StatusCallback {callback[:80]!r} is not a URL", INVALID_URL)
        if str(form.get("StatusCallbackMethod") or "POST").upper() not in ("GET", "POST"):
            raise BadParameter("StatusCallbackMethod must be GET or POST")
        events = frozenset(
            e for value in form.getlist("StatusCallbackEvent") for e in str(value).split()
        )
        if events - EVENTS:
            raise BadParameter(f"StatusCallbackEvent {sorted(events - EVENTS)} unknown")
        raw_timeout = str(form.get("Timeout") or "")
        try:
            timeout = float(raw_timeout) if raw_timeout else None
        except ValueError:
            raise BadParameter(f"Timeout {raw_timeout[:20]!r} is not a number") from None
        if timeout is not None and not 0 < timeout <= 600:
            raise BadParameter("Timeout must be more than 0 and at most 600 seconds")
        label = str(form.get("Label") or "")
        if label and conference is not None and conference.find(label) is not None:
            raise BadParameter(f"Label {label!r} is taken in this conference")
        muted, hold = boolean(form, "Muted"), boolean(form, "Hold")
        end_on_exit = boolean(form, "EndConferenceOnExit")
        coaching = boolean(form, "Coaching") or "CallSidToCoach" in form
        coached = target(conference, form, None) if coaching else None
        conference = conference or carrier.conference_named(sid)
        leg = carrier.new_leg(to)
        p = Participant(
            label or leg.sid,
            leg,
            to,
            from_,
            muted=bool(muted),
            hold=bool(hold),
            coaching=coached is not None,
            call_sid_to_coach=coached.call_sid if coached else None,
            end_conference_on_exit=bool(end_on_exit),
            status_callback=callback,
            events=events or frozenset({"completed"}),
        )
        carrier.dial_participant(conference, p, timeout)
        return JSONResponse(conference.participant_json(p, base), 201)

    @app.get(base + "/Conferences/{sid}/Participants/{who}.json")
    async def fetch_participant(request: Request, sid: str, who: str) -> JSONResponse:
        if not authorised(request):
            return JSONResponse(unauthorised, 401)
        found = participant_or_404(sid, who)
        if isinstance(found, JSONResponse):
            return found
        conference, p = found
        return JSONResponse(conference.participant_json(p, base))

    @app.post(base + "/Conferences/{sid}/Participants/{who}.json")
    async def update_participant(request: Request, sid: str, who: str) -> JSONResponse:
        if not authorised(request):
            return JSONResponse(unauthorised, 401)
        form = await request.form()
        found = participant_or_404(sid, who)
        if isinstance(found, JSONResponse):
            return found
        conference, p = found
        hold, muted = boolean(form, "Hold"), boolean(form, "Muted")
        end_on_exit = boolean(form, "EndConferenceOnExit")
        coaching = "Coaching" in form or "CallSidToCoach" in form
        coached = target(conference, form, p) if coaching else None
        # every parameter is checked before anything changes: a 400 changes nothing
        now = carrier.now()
        conference.set_flags(p, now, hold=hold, muted=muted, end_on_exit=end_on_exit)
        if coaching:
            conference.coach(p, now, coached)
        return JSONResponse(conference.participant_json(p, base))

    @app.delete(base + "/Conferences/{sid}/Participants/{who}.json")
    async def remove_participant(request: Request, sid: str, who: str) -> Response:
        if not authorised(request):
            return JSONResponse(unauthorised, 401)
        found = participant_or_404(sid, who)
        if isinstance(found, JSONResponse):
            return found
        conference, p = found
        conference.leave(p, carrier.now())
        return Response(status_code=204)

    @app.get("/emulator/conferences/{name_or_sid}.json")
    async def inspect(name_or_sid: str) -> JSONResponse:
        conference = carrier.conference(name_or_sid)
        if conference is None:
            return error(404, NOT_FOUND, f"no conference {name_or_sid}")
        return JSONResponse(conference.inspection())
