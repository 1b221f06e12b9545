"""When each kind of result is computed: the whole cadence policy in one place.

Every input updates the maps, the input view and the bars. The secondary views (strip thumbnails,
block chain, filters, preprocessing steps) refresh at most every DETAIL_INTERVAL seconds, and catch
up with the last input once it stops; on a slow model the worker hands a detail refresh on to newer
input, at most DETAIL_OVERDUE_S late. Explanations and comparisons follow the input at most every
FOLLOW_INTERVAL seconds, one job at a time. On the CPU the next forward pass waits (at most
PAINT_WAIT_S) for the window to paint the last result.
"""

from __future__ import annotations

#: Seconds between refreshes of the secondary views while the input changes.
DETAIL_INTERVAL = 0.1
#: Longest the secondary views wait for a frame with no newer input behind it.
DETAIL_OVERDUE_S = 0.5
#: Explanations and comparisons follow the input at most this often (seconds).
FOLLOW_INTERVAL = 0.1
#: Longest the next CPU forward pass waits for the window to paint the last result.
PAINT_WAIT_S = 0.05
#: Seconds between the status line's forward-time updates (a new text re-lays the status bar out).
STATUS_INTERVAL = 0.25


def detail_due(now: float, last_detail: float) -> bool:
    """Whether an input at ``now`` should refresh the secondary views too."""
    return now - last_detail >= DETAIL_INTERVAL


def hand_details_on(now: float, last_detail: float, newer_waiting: bool) -> bool:
    """Asked on the worker once a detail frame's forward pass is done: while newer input already waits,
    the secondary views' refresh moves on to it (at most DETAIL_OVERDUE_S late), so on a slow model
    every frame goes to the maps and bars the user is watching."""
    return newer_waiting and now - last_detail < DETAIL_OVERDUE_S


def follow_wait(now: float, last: float) -> float:
    """Seconds an explanation or comparison must still wait before following the input (<= 0: now)."""
    return FOLLOW_INTERVAL - (now - last)
