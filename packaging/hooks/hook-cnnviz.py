# PyInstaller hook: cnnviz imports its Qt side and optional pieces lazily, so name them here.
from PyInstaller.utils.hooks import collect_submodules

hiddenimports = (
    collect_submodules("cnnviz.qt") + collect_submodules("cnnviz.core")
    + ["cnnviz.cli_parser", "safetensors", "safetensors.torch", "tqdm"]
)
