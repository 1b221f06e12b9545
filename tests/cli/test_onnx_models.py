"""ONNX files (issue #17, route 4), through onnx2torch, from both of torch's exporters.

The exporters fold the BatchNorm into the conv before it, so the first conv's output is the normalised
one (what a hook on ``bn`` sees) and no norm stage shows; dropout, a no-op in eval mode, is not in the file.
Everything else must match what forward hooks on the original module see.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import warnings

import numpy as np
import pytest
import torch
from test_user_models import hooked_stages, net_file, original, photo, run  # noqa: F401 - fixtures

from cnnviz.core.models.model_io import load_model

pytest.importorskip("onnx2torch")
#: hooked module -> stage name, per exporter (the newer one names the fused conv and F.relu after their ops)
NAMES = {
    "legacy": {"bn": "stem", "act": "act", "res": "res", "relu": "relu", "add": "add", "left": "left",
               "right": "right", "cat": "cat", "pool": "pool", "gap": "gap", "head": "head"},
    "dynamo": {"bn": "bn", "act": "act", "res": "res", "relu": "relu_1", "add": "add", "left": "left",
               "right": "right", "cat": "cat", "pool": "pool", "gap": "gap", "head": "head"},
}


def export(model: torch.nn.Module, path, exporter: str) -> None:
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3, 32, 32),), str(path), dynamo=exporter == "dynamo",
                          input_names=["image"])


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
def test_onnx_file_shows_every_stage_with_the_originals_values(capsys, tmp_path, photo, original, exporter):  # noqa: F811
    if exporter == "dynamo":
        pytest.importorskip("onnxscript")
    path = tmp_path / "branchy.onnx"
    export(original, path, exporter)
    code, out, err = run(capsys, "summary", str(path), "--json")  # data: no --trust-file needed
    assert code == 0 and err == "", err
    rows = json.loads(out)
    assert {"conv", "relu", "pool", "add", "concat"} <= {r["kind"] for r in rows}
    assert rows[0]["input_shape"] == [3, 32, 32]  # from the graph's input
    names = NAMES[exporter]
    assert set(names.values()) <= {r["name"] for r in rows}, [r["name"] for r in rows]
    npz = tmp_path / "stages.npz"
    code, _, err = run(capsys, "render", photo, "--model", str(path), "--out", str(tmp_path / "r"), "--npz", str(npz))
    assert code == 0 and err == "", err
    with np.load(npz) as data:
        arrays = {k: data[k] for k in data.files}
    seen, probabilities = hooked_stages(original, torch.from_numpy(arrays["input"])[None])
    for hooked, stage in names.items():
        np.testing.assert_allclose(arrays[stage], seen[hooked][0].numpy(), atol=1e-4, err_msg=stage)
    np.testing.assert_allclose(arrays["probabilities"], probabilities[0].numpy(), atol=1e-4)


def test_onnx_input_shape_and_module_tree(tmp_path, original):  # noqa: F811
    path = tmp_path / "net.onnx"
    export(original, path, "legacy")
    model = load_model(path, "cpu")
    assert model.cnnviz_spec.input_shape == (3, 32, 32)
    assert "ONNX" in model.cnnviz_spec.description
    x = torch.rand(2, 3, 32, 32)  # a batch, although the file was exported with one image
    with torch.no_grad():
        torch.testing.assert_close(model(x), original(x), atol=1e-4, rtol=1e-4)


def test_nested_modules_keep_their_paths(tmp_path):
    torch.manual_seed(0)
    block = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU())
    net = torch.nn.Sequential(block, torch.nn.Sequential(torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                                                         torch.nn.Linear(4 * 13 * 13, 10))).eval()
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 1, 28, 28),), str(tmp_path / "seq.onnx"), dynamo=False)
    model = load_model(tmp_path / "seq.onnx", "cpu")
    names = [n for n, m in model.named_modules() if not list(m.children())]
    assert {"0.0", "0.1", "1.0", "1.2"} <= set(names), names


def test_bad_onnx_files_are_one_line_errors(capsys, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07 this is not a protobuf at all \xff\xfe")
    node = helper.make_node("NoSuchOp", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 8, 8])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(tmp_path / "odd.onnx"))
    two = helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"])], "g",
                            [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 1, 8, 8]) for n in "ab"],
                            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 8, 8])])
    onnx.save(helper.make_model(two, opset_imports=[helper.make_opsetid("", 13)]), str(tmp_path / "two.onnx"))
    for name, fragment in (("junk.onnx", "not a readable ONNX file"), ("odd.onnx", "NoSuchOp"),
                           ("two.onnx", "has 2 inputs")):
        code, _, err = run(capsys, "summary", str(tmp_path / name))
        assert code == 2, err
        assert err.startswith("cnnviz: error: ") and fragment in err and err.count("\n") == 1, err


def test_without_the_extra_the_error_names_it(capsys, tmp_path, original, monkeypatch):  # noqa: F811
    path = tmp_path / "net.onnx"
    export(original, path, "legacy")
    monkeypatch.setitem(sys.modules, "onnx2torch", None)  # as if cnnviz[onnx] were not installed
    code, _, err = run(capsys, "summary", str(path))
    assert code == 2 and "cnnviz[onnx]" in err and err.count("\n") == 1, err


def test_external_data_is_read_only_from_beside_the_file(capsys, tmp_path, original):  # noqa: F811
    import onnx

    path = tmp_path / "big.onnx"
    export(original, path, "legacy")
    model = onnx.load(str(path))
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="big.weights", size_threshold=0)
    code, out, err = run(capsys, "summary", str(path), "--json")  # weights beside it: read
    assert code == 0 and err == "", err
    model = onnx.load(str(path), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../outside.weights"
    (tmp_path.parent / "outside.weights").write_bytes((tmp_path / "big.weights").read_bytes())
    onnx.save_model(model, str(tmp_path / "crafted.onnx"))
    code, _, err = run(capsys, "summary", str(tmp_path / "crafted.onnx"))
    assert code == 2 and "outside its own folder" in err and err.count("\n") == 1, err


def test_the_stated_input_shape_is_read_without_converting(tmp_path, original):  # noqa: F811
    """What the Open form shows for an ONNX file before loading it: the graph's own input shape, or None for a
    file that cannot say (a damaged one, one without a fixed size); never an exception."""
    from cnnviz.core.models import onnx_models

    path = tmp_path / "net.onnx"
    export(original, path, "legacy")
    converted = []
    real = onnx_models._convert
    try:
        onnx_models._convert = lambda *a: converted.append(a) or real(*a)  # (counts conversions)
        assert onnx_models.onnx_input_shape(path) == (3, 32, 32)
    finally:
        onnx_models._convert = real
    assert converted == []
    damaged = tmp_path / "damaged.onnx"
    damaged.write_bytes(path.read_bytes()[:200])
    assert onnx_models.onnx_input_shape(damaged) is None
    assert onnx_models.onnx_input_shape(tmp_path / "missing.onnx") is None
