"""The collector's settings for a server process, checked in a process of their own (they
are the whole process's)."""

from __future__ import annotations

import json
import subprocess
import sys

from hotline.service.collector import YOUNG_ALLOCATIONS

PROBE = """
import gc, json
from hotline.service.collector import tune_for_serving
made = [object() for _ in range(10)]  # (start-up's objects, tracked or not)
before = (gc.get_threshold(), gc.get_freeze_count())
tune_for_serving()
print(json.dumps({"before": before, "after": (gc.get_threshold(), gc.get_freeze_count())}))
"""


def test_a_server_freezes_what_start_up_made_and_collects_the_young_less_often():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True)  # fmt: skip
    seen = json.loads(out.stdout)
    (threshold, frozen), (tuned, frozen_after) = seen["before"], seen["after"]
    assert frozen == 0
    assert frozen_after > 1000  # every module's objects, at least
    assert tuned == [YOUNG_ALLOCATIONS, threshold[1], threshold[2]]  # older ones as they were
    assert threshold[0] < YOUNG_ALLOCATIONS
