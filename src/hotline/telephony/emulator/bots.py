"""Agent bots: log in through the agents' API, stay ready, and accept every offer after a
ring, as an agent at a browser desktop would (the same REST calls and websocket); set
not ready by the line because their phone failed to take a call, they are ready again."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import httpx
import websockets

from hotline.telephony.emulator.carrier import KEEP_ALIVE

log = logging.getLogger("hotline.emulator.bots")


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

    async def run(self) -> None:
        ws_url = self.base.replace("http", "ws", 1) + f"/api/agent/ws?token={self.token}"
        async with contextlib.AsyncExitStack() as stack:
            http = self.client
            if http is None:
                own = httpx.AsyncClient(timeout=20, limits=KEEP_ALIVE)
                http = await stack.enter_async_context(own)
            ws = await stack.enter_async_context(websockets.connect(ws_url))
            await ws.recv()  # hello
            login = await self._post(http, "/api/agent/login")
            if login.status_code != 409:  # (409: logged in still, as a restart resumed them)
                login.raise_for_status()
            me = (await http.get(self.base + "/api/agent/me", headers=self.headers)).json()
            if me["state"] == "not_ready":  # (one on a call or wrapping up is ready after it)
                (await self._post(http, "/api/agent/ready")).raise_for_status()
            self.ready.set()
            async for raw in ws:
                message = json.loads(raw)
                if message.get("type") == "state" and message.get("state") == "not_ready" \
                        and str(message.get("reason")).startswith("agent-"):  # fmt: skip
                    # the line set them not ready: their phone failed to take a call (a
                    # caller who hung up as they accepted): ready again, as an agent would
                    # be (the simulator's agents never fail so)
                    again = await self._post(http, "/api/agent/ready")
                    if again.status_code != 409:  # (409: not so any more, e.g. told twice)
                        again.raise_for_status()
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

    async def stop(self) -> None:
        with contextlib.suppress(httpx.HTTPError):
            if self.client is not None:
                await self._post(self.client, "/api/agent/logout")
                return
            async with httpx.AsyncClient(limits=KEEP_ALIVE) as http:
                await self._post(http, "/api/agent/logout")
