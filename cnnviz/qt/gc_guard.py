"""Python's cyclic garbage collector runs only on the GUI thread while a window is open.

Left automatic, the collector runs on whichever thread happens to allocate: the inference
worker or the training thread. When it frees Qt objects there (a closed dialog, a widget in a
reference cycle), their destructors take Qt locks from the wrong thread while the GUI thread
holds the GIL and waits for the same locks: a deadlock (seen when the Train panel's thread
imported torch._dynamo) or a crash. pyqtgraph's GarbageCollector disables automatic collection
and collects on a timer in the GUI thread instead; this module starts it with the first window
and gives automatic collection back when the last one has shut down.

A full collection walks every object the app holds (torch, pyqtgraph, the model): 80 ms on the
2-core development VM, a visible stall every few seconds. ``settle`` collects once when a model
has loaded and freezes the survivors (``gc.freeze``), so later full collections only walk what
was made since: a few milliseconds. It then returns the freed pages to the system
(``release_free_memory``): the heap otherwise keeps every model it has held resident.
"""

from __future__ import annotations

import gc

from pyqtgraph.util.garbage_collector import GarbageCollector

from cnnviz.core.engine.memory import release_free_memory

_collector: GarbageCollector | None = None
_users = 0


def acquire() -> None:
    """Call on the GUI thread when a window opens."""
    global _collector, _users
    if _users == 0:
        _collector = GarbageCollector(interval=0.5)
    _users += 1


def settle() -> None:
    """Call on the GUI thread after a model loads: collect now (nobody is drawing yet), then leave the
    long-lived objects out of later collections. Objects freed by reference counting still go at once;
    only cycles among the frozen ones wait for the next ``settle`` (the previous model's, for example)."""
    if _collector is None:
        return
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    release_free_memory()  # what the previous model held goes back to the system (see engine.memory)


def release() -> None:
    """Call once the window's threads have stopped."""
    global _collector, _users
    if _users == 0:
        return
    _users -= 1
    if _users == 0 and _collector is not None:
        _collector.timer.stop()
        _collector = None
        gc.unfreeze()
        gc.enable()
        gc.collect()
