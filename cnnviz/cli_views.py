"""Commands for the whole-computation views: ``embed`` (a dataset's activations in 2-D) and ``attack``
(adversarial inputs). Each calls core."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def add_parsers(sub: Any) -> None:  # noqa: ANN401 - (argparse's private sub-parsers action)
    """Add this family's sub-commands to the command line's sub-parsers."""


#: command name -> its handler (returns the exit status)
HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {}
