"""The classroom pieces in core: tour captions, explanations, channel health, occlusion, sessions,
recordings and controllable training."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import cnnviz
from cnnviz.core.data.datasets import load_dataset
from cnnviz.core.engine.health import channel_health
from cnnviz.core.engine.inference import run_image
from cnnviz.core.engine.summary import summarize
from cnnviz.core.errors import SessionError
from cnnviz.core.lab.kernels import preset
from cnnviz.core.models.zoo import registry, spec_of
from cnnviz.core.teach.explain import cam_layers, explain, ink_share, overlay
from cnnviz.core.teach.recording import Recorder, RecordingError
from cnnviz.core.teach.session import Session, load_session, parse_session, save_session
from cnnviz.core.teach.tour import tour
from cnnviz.core.train.training import TrainConfig, TrainControl, dataset_stats, train, training_data


@pytest.fixture(scope="module")
def lenet():
    return cnnviz.load_model("lenet5-mnist", "cpu")


@pytest.fixture(scope="module")
def digits():
    return load_dataset("samples-mnist", None, train=False)


# ---- tour ------------------------------------------------------------------------------------
def test_tour_matches_summary_for_lenet(lenet):
    spec = spec_of(lenet)
    steps = tour(lenet, spec.input_shape, len(spec.class_names))
    summary = summarize(lenet, spec.input_shape)
    assert [s.stage for s in steps[1:]] == [s.name for s in summary.stages]  # every stage, in order
    for step, row in zip(steps[1:], summary.stages, strict=True):
        assert list(step.output_shape) == row.output_shape and step.params == row.params
        assert list(step.input_shape) == row.input_shape
        assert f"{row.params:,} parameters" in step.caption or row.params == 0
    conv1 = steps[1].caption
    assert conv1.startswith("conv1: 6 filters of 5x5 slide over the 28x28 input -> 6 maps of 28x28; 156 parameters")
    assert "shrinks" in next(s.caption for s in steps if s.stage == "pool1")
    assert "probabilities" in steps[-1].caption


@pytest.mark.parametrize("name", [n for n, s in registry().items() if s.family != "imagenet"] + ["resnet18"])
def test_tour_covers_every_zoo_model(name):
    model = cnnviz.load_model(name, "cpu", pretrained=False)
    spec = spec_of(model)
    steps = tour(model, spec.input_shape, len(spec.class_names))
    assert all(step.caption and step.title for step in steps)
    if name == "resnet18":
        add = next(s for s in steps if s.kind == "add")
        assert "skip connection" in add.caption


# ---- explanations --------------------------------------------------------------------------
def test_hirescam_and_saliency_sit_on_the_ink(lenet, digits):
    """On a sample digit, gradient x activation at relu1 and the saliency map put most of their mass on
    the strokes (grown by a pixel); the ink is about a third of the pixels."""
    image = digits.images[0]
    hires = explain(lenet, image, "hirescam", stage="relu1")
    assert hires.heat.shape == (28, 28) and hires.heat.max() == pytest.approx(1.0)
    assert ink_share(hires.heat, hires.model_input) > 0.6
    saliency = explain(lenet, image, "saliency")
    assert ink_share(saliency.heat, saliency.model_input) > 0.5
    blank_share = ink_share(np.ones((28, 28), np.float32), hires.model_input)
    assert blank_share < 0.5


def test_gradcam_is_captums_and_placed_by_the_receptive_field(lenet, digits):
    cam = explain(lenet, digits.images[0], "gradcam")
    assert cam.layer == "relu2" and cam.target_name == run_image(lenet, digits.images[0], 1).top[0][0]
    assert cam.overlay.shape == (28, 28, 3) and cam.overlay.dtype == np.uint8
    other = explain(lenet, digits.images[0], "gradcam", target=3)
    assert other.target == 3 and other.target_name == "3"


class _Blob(nn.Module):
    """A toy net with an unpadded 5x5 conv (its maps are 4 pixels smaller than the input): the class-1
    score is the mean of the rectified map, so the evidence is wherever the input is bright."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 5, bias=False)
        nn.init.constant_(self.conv.weight, 1 / 75)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = self.relu(self.conv(x)).mean((1, 2, 3))
        return torch.stack([torch.zeros_like(score), score], 1)


def test_gradcam_lands_where_the_evidence_is():
    toy = _Blob()
    toy.cnnviz_spec = spec_of(cnnviz.load_model("cifar-convnet", "cpu", pretrained=False))
    image = np.zeros((32, 32, 3), np.uint8)
    image[4:10, 20:26] = 255
    cam = explain(toy, image, "gradcam", target=1)
    assert cam.layer == "relu" and cam.heat.shape == (32, 32)
    assert cam.heat[2:12, 18:28].sum() / cam.heat.sum() > 0.9  # placed by the receptive field, not stretched


def test_resnet_cam_layer_is_the_last_block():
    model = cnnviz.load_model("resnet18", "cpu", pretrained=False)
    from cnnviz.core.engine.capture import capture

    layers = cam_layers(capture(model, torch.zeros(1, 3, 224, 224)).stages)
    assert layers[-1].stage == "layer4.1.relu_1" and layers[-1].module == "layer4.1"


def test_channel_health_flags_dead_and_saturated():
    maps = torch.rand(4, 5, 5)
    maps[1] = 0
    assert channel_health(maps, "relu").dead == (1,)
    assert channel_health(maps, "conv").dead == ()  # a conv output at zero is not "dead"
    tanh = torch.tanh(torch.randn(3, 6, 6))
    tanh[2] = 0.999
    assert channel_health(tanh, "activation", nn.Tanh()).saturated == (2,)


def test_overlay_keeps_cold_pixels():
    image = np.full((4, 4), 100, np.uint8)
    heat = np.zeros((4, 4), np.float32)
    heat[0, 0] = 1
    out = overlay(image, heat)
    assert (out[1:, 1:] == 100).all() and not (out[0, 0] == 100).all()


def test_occlusion_greys_the_patch_and_moves_the_prediction(lenet, digits):
    image = digits.images[0]
    clean = run_image(lenet, image, 10)
    covered = run_image(lenet, image, 10, occlusion=(0, 0, 28))
    assert covered.prepared.tensor.abs().max() == 0  # all grey = the mean = 0 after normalisation
    assert covered.prepared.model_view.std() == 0
    assert dict(clean.top)[clean.top[0][0]] != pytest.approx(dict(covered.top)[clean.top[0][0]])


# ---- sessions ------------------------------------------------------------------------------------
def test_session_round_trip(tmp_path):
    drawn = np.full((280, 280), 255, np.uint8)
    drawn[100:180, 130:150] = 0
    session = Session("lenet5-mnist", "cpu", False, "draw", drawn, "pool1", 3, [preset("sobel-x")],
                      {"per_channel": False, "top_k": 7, "magnitude_map": "cividis"})
    path = save_session(tmp_path / "lesson", session)
    assert path.name == "lesson.cnnviz"
    back = load_session(path)
    assert back.model == "lenet5-mnist" and back.stage == "pool1" and back.channel == 3
    assert np.array_equal(back.input, drawn) and back.view == session.view
    assert np.array_equal(back.kernels[0].weights, preset("sobel-x").weights)


@pytest.mark.parametrize("text, words", [
    ("{", "not valid JSON"), ("[]", "not a cnnviz session"), ('{"format": "cnnviz-session", "version": 99}', "newer"),
    ('{"format": "cnnviz-session", "version": 1, "model": 3}', "'model' should be a str"),
    ('{"format": "cnnviz-session", "version": 1, "model": "m", "source": "tv"}', "unknown input source"),
    ('{"format": "cnnviz-session", "version": 1, "model": "m", "input_png": "%%%"}', "bad base64"),
    ('{"format": "cnnviz-session", "version": 1, "model": "m", "input_png": "aGVsbG8="}', "image"),
    ('{"format": "cnnviz-session", "version": 1, "model": "m", "kernels": [{"weights": [[NaN]]}]}', "not a number"),
    ("[" * 100000, "nested too deeply"),
])
def test_bad_sessions_are_refused_with_a_sentence(text, words):
    with pytest.raises(SessionError, match=words):
        parse_session(text, "x.cnnviz")


def test_session_ignores_unknown_view_keys():
    text = json.dumps({"format": "cnnviz-session", "version": 1, "model": "m",
                       "view": {"top_k": True, "per_channel": True, "evil": "__import__('os')"}})
    assert parse_session(text).view == {"per_channel": True}


def test_failed_session_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = save_session(tmp_path / "a.cnnviz", Session("lenet5-mnist"))
    before = path.read_bytes()
    monkeypatch.setattr("os.fsync", lambda _fd: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(SessionError, match="could not be saved"):
        save_session(path, Session("resnet18"))
    assert path.read_bytes() == before


# ---- recordings ------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_recorder_writes_frames(tmp_path, suffix):
    recorder = Recorder(tmp_path / f"clip{suffix}", fps=10)
    for i in range(12):
        frame = np.zeros((90 + (i % 2), 121, 3), np.uint8)  # odd and changing sizes are fitted
        frame[:, i * 10:(i + 1) * 10] = 255
        assert recorder.add(frame)
    path = recorder.close()
    assert recorder.frames == 12
    if suffix == ".gif":
        assert Image.open(path).n_frames == 12
    else:
        import cv2

        assert int(cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FRAME_COUNT)) == 12


def test_recorder_refuses_unknown_formats(tmp_path):
    with pytest.raises(RecordingError, match=".gif or .mp4"):
        Recorder(tmp_path / "clip.avi")
    with pytest.raises(RecordingError, match="Nothing was recorded"):
        Recorder(tmp_path / "empty.gif").close()


# ---- training you can control ----------------------------------------------------------------------
def test_training_steps_pause_and_stop():
    train_data, test_data = training_data("samples-mnist", None, seed=0)
    mean, std = dataset_stats(train_data.images)
    control = TrainControl()
    steps: list[tuple[int, float]] = []

    def on_step(step: int, loss: float, _accuracy: float, _model: nn.Module) -> None:
        steps.append((step, loss))
        if step == 3:
            control.pause()
            threading.Timer(0.2, control.resume).start()
        if step == 12:
            control.stop()

    config = TrainConfig("lenet5", "samples-mnist", epochs=5, batch_size=16)
    result = train(config, train_data, test_data, torch.device("cpu"), mean, std, on_step=on_step, control=control)
    assert [s for s, _ in steps] == list(range(1, 13))  # stopped right after step 12, mid-epoch 2
    assert len(result.history) == 2 and result.evaluation is not None


def test_compare_trained_against_edited(lenet, digits):
    from cnnviz.core.lab.surgery import FilterEdit, Surgeon
    from cnnviz.core.teach.compare import compare

    surgeon = Surgeon(lenet)
    image = digits.images[0]
    same = compare(lenet, image, None, "conv1", surgeon)
    assert same.mode == "edit" and same.largest == 0.0
    surgeon.apply(FilterEdit("conv1", "conv1", 0, preset("sobel-x").weights))
    try:
        edited = compare(lenet, image, None, "conv1", surgeon)
        assert edited.largest > 0 and edited.a.shape == edited.b.shape == edited.diff.shape
        moved = {c.name: c.mean_abs_change for c in edited.changes}
        assert moved["conv1"] > 0 and moved["fc3"] > 0
    finally:
        surgeon.reset()
    two = compare(lenet, digits.images[0], digits.images[1], "pool2")
    assert two.mode == "inputs" and two.stage == "pool2" and two.top_a != two.top_b
