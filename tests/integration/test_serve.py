"""`hotline serve` as an operator starts it: a real process on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
from twilio.request_validator import RequestValidator

from hotline.service.sealing import new_key

from .test_cli import ROOT, run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_refuses_to_start_without_a_webhook_secret():
    p = run("serve")
    assert p.returncode == 2
    assert "HOTLINE_TWILIO_AUTH_TOKEN is not set" in p.stderr


def test_serve_migrates_answers_health_and_verifies_signatures(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "HOTLINE_DATABASE_URL": f"sqlite:///{tmp_path / 'line.sqlite3'}",
        "HOTLINE_TWILIO_AUTH_TOKEN": "serve-test-token",
        "HOTLINE_SECRET_KEY": new_key(),
        "HOTLINE_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    command = [sys.executable, "-c", "from hotline.cli import main; main()"]
    proc = subprocess.Popen(
        [*command, "serve", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:  # wait for readiness, as a load balancer would
            try:
                health = httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the server did not come up in 60 s"
                time.sleep(0.2)
        assert health.json()["ready"] is True
        form = {"CallSid": "CA1", "From": "+12025550143", "To": "+18005550100"}
        assert httpx.post(f"{base}/voice/incoming", data=form).status_code == 403
        signature = RequestValidator("serve-test-token").compute_signature(
            f"{base}/voice/incoming", form
        )
        r = httpx.post(
            f"{base}/voice/incoming", data=form, headers={"X-Twilio-Signature": signature}
        )
        assert r.status_code == 200
        assert "<Gather" in r.text
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert "database migrated: 0001, 0002" in stderr
    assert "Traceback" not in stderr


def test_serve_and_a_node_refuse_speech_they_cannot_have_before_touching_the_database(tmp_path):
    """HOTLINE_SPEECH=espeak on a machine without espeak-ng: refused at once, exit 2."""
    bare = tmp_path / "bin"  # a PATH with Python and no espeak-ng
    bare.mkdir()
    (bare / "python").symlink_to(sys.executable)
    database = tmp_path / "line.sqlite3"
    env = {"HOTLINE_DATABASE_URL": f"sqlite:///{database}", "HOTLINE_SPEECH": "espeak",
           "HOTLINE_TWILIO_AUTH_TOKEN": "serve-test-token", "HOTLINE_SECRET_KEY": new_key(),
           "PATH": str(bare)}  # fmt: skip
    for node in ((), ("--node", "n1")):
        p = run("serve", "--port", str(free_port()), *node, env=env)
        assert p.returncode == 2, p.stderr
        assert "HOTLINE_SPEECH=espeak: espeak-ng is not installed" in p.stderr
        assert "Traceback" not in p.stderr
        assert not database.exists()
