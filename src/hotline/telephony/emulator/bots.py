"""Agent bots: log in through the agents' API, stay ready, and accept every offer after a
ring, as an agent at a browser desktop would (the same REST calls and websocket); set
not ready by the line because their phone failed to take a call, they are ready again.
A log-in or a ready the line cannot answer now (503: handed over or recovering; the
connection failed) is asked again after a bounded back-off, as a desktop would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random

import httpx
import websockets

from hotline.telephony.emulator.carrier import KEEP_ALIVE

log = logging.getLogger("hotline.emulator.bots")
# seconds between a bot's tries of a request the line could not answer: doubling from the
# first to the last (each drawn between half and all of it, so bots refused together do
# not come back together); a Retry-After is waited for, up to the last
RETRY_FIRST, RETRY_LAST = 0.25, 8.0
TRY_AGAIN = frozenset({502, 503, 504})  # the line (or a front before it) cannot answer now


class AgentBot:
    def __init__(
        self,
        *,
        agent_id: str,
        token: str,
        base_url: str,
        speed: float,
        ring: float = 3.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        """`client`: one to share with other bots (thousands of bots each with a client of
        their own spend most of their start loading the same certificates)."""
        self.agent_id = agent_id
        self.client = client
        self.base = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"}
        self.token = token
        self.speed = speed
        self.ring = ring
        self.accepted: list[str] = []
        self.ready = asyncio.Event()
        self._jitter = random.Random(agent_id)  # (its own: the run's draws are not touched)

    async def run(self) -> None:
        ws_url = self.base.replace("http", "ws", 1) + f"/api/agent/ws?token={self.token}"
        async with contextlib.AsyncExitStack() as stack:
            http = self.client
            if http is None:
                own = httpx.AsyncClient(timeout=20, limits=KEEP_ALIVE)
                http = await stack.enter_async_context(own)
            # as a browser's socket: no pings of its own (the server's it answers), and it
            # never stops reading (a bot busy accepting keeps what comes meanwhile)
            ws = await stack.enter_async_context(
                websockets.connect(ws_url, ping_interval=None, max_queue=None)
            )
            await ws.recv()  # hello
            login = await self._asked(http, "POST", "/api/agent/login")
            if login.status_code != 409:  # (409: logged in still, as a restart resumed them)
                login.raise_for_status()
            me = await self._asked(http, "GET", "/api/agent/me")
            me.raise_for_status()
            # (one on a call or wrapping up is ready after it)
            if me.json()["state"] == "not_ready":
                await self._ready(http)
            self.ready.set()
            async for raw in ws:
                message = json.loads(raw)
                if message.get("type") == "state" and message.get("state") == "not_ready" \
                        and str(message.get("reason")).startswith("agent-"):  # fmt: skip
                    # the line set them not ready: their phone failed to take a call (a
                    # caller who hung up as they accepted): ready again, as an agent would
                    # be (the simulator's agents never fail so)
                    await self._ready(http)
                elif message.get("type") == "offer":
                    await asyncio.sleep(self.ring / self.speed)
                    sid = message["call_sid"]
                    r = await self._post(http, f"/api/agent/calls/{sid}/accept")
                    if r.status_code == 200:
                        self.accepted.append(sid)
                    else:  # withdrawn meanwhile (the caller hung up, or it timed out)
                        log.info("%s could not take %s: %s", self.agent_id, sid, r.text)

    async def _post(self, http: httpx.AsyncClient, path: str) -> httpx.Response:
        return await http.post(self.base + path, headers=self.headers)

    async def _ready(self, http: httpx.AsyncClient) -> None:
        """Ready, asked until the line answers (`_asked`); 409: not so any more (told
        twice, or an offer came meanwhile)."""
        r = await self._asked(http, "POST", "/api/agent/ready")
        if r.status_code != 409:
            r.raise_for_status()

    async def _asked(self, http: httpx.AsyncClient, method: str, path: str) -> httpx.Response:
        """The line's answer to a request, asked again while it cannot answer (TRY_AGAIN,
        or no connection: its group is handed over, or its node is recovering it) after a
        back-off doubling from RETRY_FIRST to RETRY_LAST seconds, for as long as the bot
        runs (a desktop does not give up on its line); any other answer is returned."""
        delay = RETRY_FIRST
        while True:
            try:
                r = await http.request(method, self.base + path, headers=self.headers)
            except httpx.TransportError as e:
                why, asked = type(e).__name__, 0.0
            else:
                if r.status_code not in TRY_AGAIN:
                    return r
                why, asked = f"{r.status_code} {r.text[:120]}", _retry_after(r)
            pause = min(max(self._jitter.uniform(delay / 2, delay), asked), RETRY_LAST)
            log.info("%s: %s %s not answered (%s); asked again in %.1f s", self.agent_id,
                     method, path, why, pause)  # fmt: skip
            await asyncio.sleep(pause)
            delay = min(delay * 2, RETRY_LAST)

    async def stop(self) -> None:
        with contextlib.suppress(httpx.HTTPError):
            if self.client is not None:
                await self._post(self.client, "/api/agent/logout")
                return
            async with httpx.AsyncClient(limits=KEEP_ALIVE) as http:
                await self._post(http, "/api/agent/logout")


def _retry_after(r: httpx.Response) -> float:
    """The seconds a refusal's Retry-After asks for (0: none, or a date, not waited for)."""
    said = r.headers.get("retry-after", "")
    return float(said) if said.isdigit() else 0.0
