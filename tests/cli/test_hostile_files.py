"""Hostile files and injected faults: a clear sentence, nothing executed, nothing lost."""

from __future__ import annotations

import hashlib
import io
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import cnnviz
from cnnviz.core.data.imageio import read_image
from cnnviz.core.errors import ImageError, ModelError
from cnnviz.core.lab.kernels import preset, save_bank

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/hostile.py, a helper module
from hostile import build_corpus, run_corpus  # noqa: E402


def test_hostile_corpus_is_refused_cleanly_and_runs_no_code(tmp_path, capsys):
    items, canaries = build_corpus(tmp_path)
    report = run_corpus(items, canaries)
    with capsys.disabled():
        print("\n" + report.summary())
    crashes = [(o.kind, o.path.name, o.message) for o in report.outcomes if o.result == "crash"]
    assert len(report.outcomes) >= 500
    assert crashes == []
    assert report.executions == 0 and sorted(p.name for p in canaries.iterdir()) == ["script.py"]
    refusals = [o for o in report.outcomes if o.result == "refused"]
    assert all("\n" not in o.message and o.message for o in refusals)
    evil = [o for o in report.outcomes if o.path.name.startswith("evil-")]
    assert evil and all(o.result == "refused" for o in evil)


def test_huge_model_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.pt"
    with path.open("wb") as handle:
        handle.truncate(5 * 1024**3)  # sparse: costs no disk
    with pytest.raises(ModelError, match="larger than any model"):
        cnnviz.load_model(path, "cpu", arch="lenet5")


def _pil_bytes(image, fmt, **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def test_float_tiff_palette_exif_and_animated_gif(tmp_path):
    from PIL import Image

    (tmp_path / "f.tiff").write_bytes(_pil_bytes(Image.fromarray(np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)),
                                                 "TIFF"))
    image = read_image(tmp_path / "f.tiff")
    assert image.rgb.dtype == np.uint8 and image.rgb[7, 7, 0] == 255
    (tmp_path / "p.png").write_bytes(_pil_bytes(Image.new("RGB", (6, 4), (255, 0, 0)).convert("P"), "PNG"))
    assert read_image(tmp_path / "p.png").rgb[0, 0].tolist() == [255, 0, 0]
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    (tmp_path / "r.jpg").write_bytes(_pil_bytes(Image.new("RGB", (40, 20), (0, 0, 0)), "JPEG", exif=exif))
    rotated = read_image(tmp_path / "r.jpg")
    assert rotated.rgb.shape[:2] == (40, 20) and any("EXIF" in n for n in rotated.notes)
    frames = [Image.new("L", (10, 10), v) for v in (0, 200)]
    (tmp_path / "a.gif").write_bytes(_pil_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:]))
    gif = read_image(tmp_path / "a.gif")
    assert gif.rgb[0, 0, 0] == 0 and any("first frame" in n for n in gif.notes)


def test_cli_refuses_a_malicious_checkpoint_without_running_it(tmp_path, capsys):
    import os

    from cnnviz.cli import main

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'canary'}",))

    path = tmp_path / "evil.pth"
    torch.save({"state_dict": Payload()}, path)
    assert main(["predict", str(tmp_path / "x.png"), "--model", str(path), "--arch", "lenet5"]) == 2
    err = capsys.readouterr().err
    assert "pickled Python objects" in err and "--trust-file" in err and not (tmp_path / "canary").exists()


def test_refused_save_keeps_the_old_file_byte_identical(tmp_path, monkeypatch):
    path = tmp_path / "bank.json"
    save_bank(path, [preset("sobel-x")])
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    def denied(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("os.replace", denied)
    with pytest.raises(PermissionError):
        save_bank(path, [preset("emboss")])
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert [p.name for p in tmp_path.iterdir()] == ["bank.json"]


def test_image_larger_than_kernel_and_tiny_input_name_the_stage():
    from cnnviz.core.errors import InputMismatchError

    model = cnnviz.load_model("frnet", "cpu")
    with pytest.raises(InputMismatchError, match="conv"):
        cnnviz.capture(model, torch.rand(1, 1, 3, 3))


def test_image_error_is_one_sentence(tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(ImageError) as info:
        read_image(path)
    assert "\n" not in str(info.value)
