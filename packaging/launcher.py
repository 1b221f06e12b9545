"""Entry point of the PyInstaller bundle: the same front door as the ``cnnviz`` command."""

from cnnviz.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
