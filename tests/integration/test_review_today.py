"""Review of the day's changes (load-shared nodes, line stop, carrier 'call gone'): each
test here failed on main when written, and names the defect it shows."""

from __future__ import annotations

from pathlib import Path

from hotline.service.accounts import Accounts
from hotline.service.lines import import_line
from hotline.store.accounts import AccountStore
from hotline.store.db import connect, migrate
from hotline.web.admin import STOPPED_HERE

from .live_fixtures import Live, sqlite_url
from .test_admin import NATIONAL
from .test_node_load import Floor
from .test_sessions import PASSWORD, log_on


def test_a_hand_over_never_takes_a_node_below_its_share_when_its_app_serves_two_groups(
    tmp_path: Path,
) -> None:
    """Node.claim picks the group to give by that group's weight (load - w(g) >= share),
    but hands over `served[...]`: the app's whole group. A node serving lines that were one
    group and have split (an agent left one: `served_in` keeps them in one app) gives both,
    ends below its share and the excess rises: here a (1) is picked, a and b (1 + 5) go,
    b is taken by the other node, which is then above its share and hands c back."""
    engine = connect(sqlite_url(tmp_path))
    migrate(engine)
    try:
        floor = Floor(engine, {("a", "b"): 6, ("c",): 4})
        a, b = floor.join("a"), floor.join("b")
        assert a.claim() == [("a", "b")]  # 6 >= 10 / 2: no more
        assert b.claim() == [("c",)]
        # the agent shared by a and b leaves b: two groups, still served in one app on a
        floor.weights.clear()
        floor.weights.update({("a",): 1, ("b",): 5, ("c",): 4})
        a.claim()
        # giving its app (a and b, 6) would leave a at 0, below its share (5): nothing goes
        # (it used to pick a (1) by its own weight and give a and b together)
        assert a.handing is None
        floor.settle()
        assert floor.handed == []
        assert floor.led() == {"a": ["a", "b"], "b": ["c"]}
    finally:
        engine.dispose()


def test_an_admin_change_refused_line_stopped_was_not_made(tmp_path: Path) -> None:
    """`/api/admin/...` changes the store first (in a thread), then reloads the lines as a
    use case: on a line that stopped meanwhile the reload raises LineStopped, answered 503
    "nothing was done; try again shortly" - but the change is in the store (with its audit
    entry). A retry guarded by a revision then meets 409; an admin told nothing happened
    does it again or gives up on a change that is live on the next leader."""
    live = Live(sqlite_url(tmp_path))
    import_line(live.store, NATIONAL)
    accounts = Accounts(store=AccountStore(engine=live.store.engine), clock=live.wall,
                        key=live.settings.sealing_key())  # fmt: skip
    headers = log_on(live, "ada", accounts.add("ada", "admin", password=PASSWORD).totp_secret)
    with live.http:
        pass  # the line starts, then stops (handed over, or the server stopping)
    r = live.http.put("/api/admin/agents/vi-day-1/skills", json={"skills": {"vi": 5}},
                      headers=headers)  # fmt: skip
    # the change is in the store (with its audit entry): it was made, and is said so, with
    # why this server did not take it up (the line's next leader reads it as it starts)
    assert r.status_code == 200, r.text
    said = r.json()
    assert said["ok"] is True
    assert said["stopped"] == STOPPED_HERE
    agents = live.http.get("/api/admin/agents", headers=headers).json()["agents"]
    assert next(a["skills"] for a in agents if a["id"] == "vi-day-1") == {"vi": 5}
