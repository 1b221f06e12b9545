# PyInstaller hook: cnnviz imports its Qt side and optional pieces lazily, so name them here.
hiddenimports = [
    "cnnviz.qt.app", "cnnviz.qt.main_window", "cnnviz.qt.worker", "cnnviz.qt.kernel_lab",
    "cnnviz.core.export", "cnnviz.core.training", "cnnviz.core.evaluation", "cnnviz.core.plots",
    "safetensors", "safetensors.torch", "tqdm",
]
