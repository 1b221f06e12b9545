"""Python's cyclic garbage collector runs only on the GUI thread while a window is open.

Left automatic, the collector runs on whichever thread happens to allocate: the inference
worker or the training thread. When it frees Qt objects there (a closed dialog, a widget in a
reference cycle), their destructors take Qt locks from the wrong thread while the GUI thread
holds the GIL and waits for the same locks: a deadlock (seen when the Train panel's thread
imported torch._dynamo) or a crash. pyqtgraph's GarbageCollector disables automatic collection
and collects on a timer in the GUI thread instead; this module starts it with the first window
and gives automatic collection back when the last one has shut down.
"""

from __future__ import annotations

import gc

from pyqtgraph.util.garbage_collector import GarbageCollector

_collector: GarbageCollector | None = None
_users = 0


def acquire() -> None:
    """Call on the GUI thread when a window opens."""
    global _collector, _users
    if _users == 0:
        _collector = GarbageCollector(interval=0.5)
    _users += 1


def release() -> None:
    """Call once the window's threads have stopped."""
    global _collector, _users
    if _users == 0:
        return
    _users -= 1
    if _users == 0 and _collector is not None:
        _collector.timer.stop()
        _collector = None
        gc.enable()
        gc.collect()
