"""What one channel looks for, in one call: its optimised input and its best dataset patches, as the app's
"what it looks for" panel shows them (the work runs on the worker; the panel only draws the result)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from cnnviz.core.data.datasets import ArrayDataset
from cnnviz.core.models.zoo import spec_of
from cnnviz.core.teach.exemplars import Exemplar, patches, scan
from cnnviz.core.teach.features import FeatureSettings, visualise
from cnnviz.core.teach.study_common import CancelCheck, Progress

DEFAULT = FeatureSettings()


@dataclass(frozen=True)
class ChannelStudy:
    """A channel's optimised input, its top exemplars with their patches, and the best value on the dataset."""

    stage: str
    channel: int
    feature: np.ndarray  # uint8 picture (grey or RGB) of the optimised input
    activation: float  # the channel's mean activation for it
    exemplars: tuple[Exemplar, ...]
    patches: tuple[np.ndarray, ...]
    class_names: tuple[str, ...]
    dataset: str
    n: int

    @property
    def best(self) -> float:
        """The channel's highest maximum over the dataset (the 100 % of the panel's scale)."""
        return self.exemplars[0].value if self.exemplars else 0.0

    def percent(self, value: float) -> float | None:
        """``value`` (an input's maximum on the channel) in % of the best sample's; None if it never fires."""
        return 100.0 * value / self.best if self.best > 0 else None

    def label(self, exemplar: Exemplar) -> str:
        names = self.class_names
        return names[exemplar.label] if 0 <= exemplar.label < len(names) else str(exemplar.label)


def study_channel(model: nn.Module, data: ArrayDataset, stage: str, channel: int, top: int = 9,
                  settings: FeatureSettings = DEFAULT, cache_dir: str | Path | None = None,
                  progress: Progress | None = None, cancelled: CancelCheck | None = None) -> ChannelStudy:
    """The feature visualisation of ``channel`` (the first half of the progress), then the dataset scan of
    the stage (the second half; from the disk cache when it was scanned before with these weights)."""
    def half(offset: int) -> Progress:
        return lambda done, total: progress(offset + (50 * done) // max(1, total), 100) if progress else None

    feature = visualise(model, stage, [channel], settings, progress=half(0), cancelled=cancelled)
    found = scan(model, data, stage, top=top, cache_dir=cache_dir, progress=half(50), cancelled=cancelled)
    top_k = found.top(channel)
    cut = patches(found, data, spec_of(model), channel)
    return ChannelStudy(stage, channel, feature.image(channel), feature.activations[0], tuple(top_k), tuple(cut),
                        found.class_names, found.dataset, found.n)


def stage_grid(model: nn.Module, stage: str, settings: FeatureSettings = DEFAULT,
               progress: Progress | None = None, cancelled: CancelCheck | None = None) -> np.ndarray:
    """Every channel's optimised input in one RGB grid (the stage-wide view, one click away in the app)."""
    return visualise(model, stage, None, settings, progress=progress, cancelled=cancelled).grid(tile=56)
