"""The names the app, the command line and session files share: where an input comes from and which
view is on screen. One list each, so a new source or view is added in one place."""

from __future__ import annotations

#: Where the input comes from, in the order of the app's input tabs.
INPUT_SOURCES = ("draw", "image", "dataset", "camera")
#: The app's views, in the order of its view tabs.
VIEWS = ("network", "graph", "convolution", "lab", "explain", "compare", "embedding", "attack", "train")
#: The views that show the selected stage (the tour stays on one of these as it moves from stage to stage).
STAGE_VIEWS = ("network", "graph", "convolution")
