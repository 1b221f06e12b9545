"""Python's cyclic garbage collector runs only on the GUI thread while a window is open.

Left automatic, the collector runs on whichever thread happens to allocate: the inference
worker or the training thread. When it frees Qt objects there (a closed dialog, a widget in a
reference cycle), their destructors take Qt locks from the wrong thread while the GUI thread
holds the GIL and waits for the same locks: a deadlock (seen when the Train panel's thread
imported torch._dynamo) or a crash. pyqtgraph's GarbageCollector disables automatic collection
and collects on a timer in the GUI thread instead; this module starts it with the first window
and gives automatic collection back when the last one has shut down.

A full collection walks every object the app holds (torch, pyqtgraph, scikit-learn once the
embedding map has imported it, the model): 170-430 ms on the 2-core development VM, so none is made
on the way in or out. The first window freezes what exists when it opens (``gc.freeze``: the imported
libraries and the app's long-lived objects, none of them garbage), and later collections walk only
what was made since: the models, their traced copies, results. ``settle`` collects those when a model
has loaded (the previous model's reference cycles, a traced GraphModule's among them, go then): 5 ms
for ResNet-18 and its capture, about 75 ms once scikit-learn has been imported since. It then returns the freed
pages to the system (``release_free_memory``): the heap otherwise keeps every model it has held
resident. (Freezing again after each load, as this module first did, had to unfreeze everything at
the next load to free the previous model's cycles: a full 0.4-0.7 s collection on every model switch,
which the monkey test caught as GUI stalls over a second.)
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
        # the young generations only: a full collection here took 0.17-0.22 s of every start-up and found
        # nothing (the imports leave no cycles behind); anything older that is frozen is unfrozen at release
        gc.collect(1)
        gc.freeze()  # what exists before any model: the libraries and the app (see the module's docstring)
    _users += 1


def settle() -> None:
    """Call on the GUI thread after a model loads: collect what was made since the window opened (the
    previous model's cycles among it) now, while nobody is drawing yet; then hand freed memory back."""
    if _collector is None:
        return
    gc.collect()
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
        gc.enable()  # (automatic collection takes it from here: a full one now cost 0.2 s of every exit)
