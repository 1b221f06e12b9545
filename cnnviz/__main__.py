"""``python -m cnnviz``: the same front door as the ``cnnviz`` command."""

from cnnviz.cli import main

raise SystemExit(main())
