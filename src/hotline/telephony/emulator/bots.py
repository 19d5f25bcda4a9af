"""Agent bots: log in through the agents' API, stay ready, and accept every offer after a
ring, as an agent at a browser desktop would (the same REST calls and websocket)."""

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
        self, *, agent_id: str, token: str, base_url: str, speed: float, ring: float = 3.0
    ) -> None:
        self.agent_id = agent_id
        self.base = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"}
        self.token = token
        self.speed = speed
        self.ring = ring
        self.accepted: list[str] = []
        self.ready = asyncio.Event()

    async def run(self) -> None:
        ws_url = self.base.replace("http", "ws", 1) + f"/api/agent/ws?token={self.token}"
        async with (
            httpx.AsyncClient(
                base_url=self.base, headers=self.headers, timeout=20, limits=KEEP_ALIVE
            ) as http,
            websockets.connect(ws_url) as ws,
        ):
            await ws.recv()  # hello
            login = await http.post("/api/agent/login")
            if login.status_code != 409:  # (409: logged in still, as a restart resumed them)
                login.raise_for_status()
            me = (await http.get("/api/agent/me")).json()
            if me["state"] == "not_ready":  # (one on a call or wrapping up is ready after it)
                (await http.post("/api/agent/ready")).raise_for_status()
            self.ready.set()
            async for raw in ws:
                message = json.loads(raw)
                if message.get("type") == "offer":
                    await asyncio.sleep(self.ring / self.speed)
                    sid = message["call_sid"]
                    r = await http.post(f"/api/agent/calls/{sid}/accept")
                    if r.status_code == 200:
                        self.accepted.append(sid)
                    else:  # withdrawn meanwhile (the caller hung up, or it timed out)
                        log.info("%s could not take %s: %s", self.agent_id, sid, r.text)

    async def stop(self) -> None:
        with contextlib.suppress(httpx.HTTPError):
            async with httpx.AsyncClient(
                base_url=self.base, headers=self.headers, limits=KEEP_ALIVE
            ) as http:
                await http.post("/api/agent/logout")
