# PyInstaller hook: cnnviz imports its Qt side and optional pieces lazily, so name them here.
hiddenimports = [
    "cnnviz.qt.app", "cnnviz.qt.main_window", "cnnviz.qt.worker", "cnnviz.qt.kernel_lab",
    "cnnviz.core.teach.export", "cnnviz.core.train.training", "cnnviz.core.train.evaluation", "cnnviz.core.train.plots",
    "safetensors", "safetensors.torch", "tqdm",
]
