"""The browser phone's edges (found by a review): malformed signalling frames, an emulator
with no secret to verify with, a supervisor named like an agent."""

from __future__ import annotations

import asyncio
import base64

import jwt
import pytest

from .live_fixtures import Live, sqlite_url
from .test_audit_search import log_on
from .test_emulator_conference import rig
from .test_emulator_phones import KEY, phone, token

SECRET = "not-a-real-secret-but-long-enough-for-hs256"
DEEP = "[" * 30_000  # well under the emulator's 64 KiB message bound


@pytest.mark.parametrize(
    ("send", "code"),
    [
        pytest.param(lambda p: p.ws.send(b"\x00\x01binary"), 31100, id="a-binary-frame"),
        pytest.param(lambda p: p.ws.send('{"type": "listen", "payload": ' + DEEP), 31100,
                     id="deeply-nested-json"),
        pytest.param(lambda p: p.send("listen", {"token": "eyJhbGciOiJIUzI1NiJ9."
                     + base64.urlsafe_b64encode(DEEP.encode()).decode() + ".sig"}), 31204,
                     id="a-token-whose-claims-nest-deeply"),
    ],
)  # fmt: skip
def test_a_malformed_frame_gets_an_error_and_the_socket_goes_on(send, code):
    """docs/live.md: 'a malformed message gets `error` 31100'. A binary frame (KeyError in
    receive_text) or JSON nested deeper than the recursion limit (RecursionError, not a
    ValueError) escapes `_receive` instead: the handler dies and the socket is dropped with
    no close frame. (A token that does not parse is 31204, as for any bad token.)"""

    async def run() -> None:
        async with rig(api_key=KEY) as r, phone(r) as p:
            await send(p)
            assert (await p.expect("error"))["error"]["code"] == code
            await p.register("agent-1")  # the same socket still works

    asyncio.run(run())


def test_an_emulator_with_an_empty_api_secret_refuses_a_token_it_cannot_verify():
    """`Jwt.from_jwt(token, "")` skips the signature check ("if not provided then validation
    is skipped"): an emulator given an empty secret accepts a token signed with any secret,
    for any identity. It must refuse it (Twilio never verifies against nothing)."""

    async def run() -> None:
        async with rig(api_key=(KEY[0], "")) as r, phone(r) as p:
            forged = token("agent-1", secret="whatever-secret-the-forger-picked-000000")
            await p.send("listen", {"token": forged})
            assert (await p.expect("error"))["error"]["code"] == 31204
            assert r.carrier.phones.registered("agent-1") == []

    asyncio.run(run())


def test_a_supervisor_gets_no_voice_token_for_an_agents_browser_phone(tmp_path):
    """An agent's phone is `client:AGENT_ID`, a supervisor's `client:USERNAME`, and a
    supervisor's user name may be any agent's id: the supervisor then gets a token whose
    identity is that agent's. Their wallboard registers as the agent's phone (it is invited
    to every leg of the agent's), and the supervisor's listen leg rings the agent's desktop,
    which answers it (it is for the call the agent is on)."""
    live = Live(sqlite_url(tmp_path), twilio_api=("SK" + "1" * 32, SECRET))
    headers = log_on(live, live.http, "en-day-1", "supervisor")  # (no agent_id: a supervisor)
    r = live.http.post("/api/supervisor/voice-token", headers=headers)
    assert r.status_code == 200, r.text
    claims = jwt.decode(r.json()["token"], SECRET, algorithms=["HS256"])
    agent = live.http.post("/api/agent/voice-token", headers=live.agent("en-day-1")).json()
    agents_identity = jwt.decode(agent["token"], SECRET, algorithms=["HS256"])["grants"]["identity"]
    assert (claims["grants"]["identity"], agents_identity) == ("_supervisor_en-day-1", "en-day-1")
