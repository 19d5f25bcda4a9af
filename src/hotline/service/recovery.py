"""Asking the carrier which calls are still live, after a restart and until it can say.

The look-ups run in parallel with one deadline for them all: a carrier whose API is down,
slow or failing for some calls never holds up the start. A call it could not tell about is
left out of the answer (its caller keeps their place; it is asked about again later)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait

from hotline.telephony.control import CallControl, CarrierError

log = logging.getLogger("hotline.service")
# status look-ups under way at once: a takeover waits for them (at 0.2 s each, 32 at once
# ask about 160 calls a second at best), and a carrier limits an account's concurrent
# requests (Twilio refuses those beyond its limit: 429, error 20429; the client sends such
# a look-up again after a wait, and one still refused is asked about again later)
WORKERS = 32


def carrier_statuses(
    control: CallControl, sids: Sequence[str], *, deadline: float
) -> dict[str, str | None]:
    """The carrier's status of each call it answered about within `deadline` seconds
    (None: it does not know the call); calls it could not tell about are left out."""
    if not sids:
        return {}
    pool = ThreadPoolExecutor(max_workers=min(WORKERS, len(sids)), thread_name_prefix="status")
    futures: dict[Future[str | None], str] = {pool.submit(control.status, s): s for s in sids}
    done, pending = wait(futures, timeout=deadline)
    pool.shutdown(wait=False, cancel_futures=True)  # the slow ones are not waited for
    out: dict[str, str | None] = {}
    failed: list[str] = []
    for f in done:
        try:
            out[futures[f]] = f.result()
        except CarrierError as e:
            failed.append(e.message)
        except Exception as e:  # noqa: BLE001 - an answer we cannot read is no answer
            failed.append(f"{type(e).__name__}: {str(e)[:200]}")
    unknown = len(pending) + len(failed)
    if unknown:
        why = failed[0] if failed else f"no answer within {deadline:g} s"
        log.warning(
            "the carrier could not tell the status of %d of %d calls (%s); they keep their "
            "place and are asked about again later", unknown, len(sids), why,
        )  # fmt: skip
    return out
