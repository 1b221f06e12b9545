"""Any CNN a user has (issue #17): code files, installed modules and pickled whole models, on the command line.

The network is none of the zoo's (BatchNorm, in-place ReLU, F.relu, a residual add, a torch.cat of two
branches, adaptive pooling, dropout); every route must show all its stages, give the stage arrays a plain
forward hook on the original module sees, and the original module's probabilities.
"""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnviz.cli import main
from cnnviz.core.data.imageio import write_png
from cnnviz.core.errors import ModelError, UntrustedFileError
from cnnviz.core.models.model_io import load_model
from cnnviz.core.models.user_code import import_file, split_code_ref

NET = textwrap.dedent('''
    import torch
    import torch.nn.functional as F
    from torch import nn

    INPUT_SHAPE = (3, 32, 32)


    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.bn = nn.BatchNorm2d(8)
            self.act = nn.ReLU(inplace=True)
            self.res = nn.Conv2d(8, 8, 3, padding=1)
            self.left = nn.Conv2d(8, 4, 1)
            self.right = nn.Conv2d(8, 4, 3, padding=1)
            self.pool = nn.MaxPool2d(2)
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.drop = nn.Dropout(0.5)
            self.head = nn.Linear(8, 5)

        def forward(self, x):
            x = self.act(self.bn(self.stem(x)))
            x = x + F.relu(self.res(x))
            x = torch.cat([self.left(x), self.right(x)], dim=1)
            x = self.gap(self.pool(x))
            return self.head(self.drop(torch.flatten(x, 1)))


    def make_net():
        torch.manual_seed(0)
        net = Branchy()
        with torch.no_grad():  # running statistics that are not the identity, so BatchNorm does something
            net.bn.running_mean.uniform_(-0.5, 0.5)
            net.bn.running_var.uniform_(0.5, 2.0)
        return net


    NOT_A_NET = 42


    def not_a_net():
        return "a string"
''')
KINDS = {"conv", "norm", "relu", "pool", "add", "concat"}
MODULE_NAME = "cnnviz_test_usernet"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def net_file(tmp_path):
    path = tmp_path / "usernet.py"
    path.write_text(NET, encoding="utf-8")
    return path


@pytest.fixture
def original(net_file):
    """The user's network as the user has it: built by their code, in eval mode."""
    return import_file(net_file).make_net().eval()


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    rng = np.random.default_rng(3)
    write_png(path, rng.integers(0, 256, (48, 40, 3), dtype=np.uint8))
    return str(path)


def hooked_stages(model, x):
    """What plain forward hooks on the original module see, copied as each fires (functional stages from
    the inputs of the modules that consume them)."""
    seen = {}
    handles = []
    for name, module in model.named_modules():
        if name:
            handles.append(module.register_forward_hook(
                lambda _m, _i, out, name=name: seen.__setitem__(name, out.detach().clone())))
    for name, stage in (("left", "add"), ("pool", "cat"), ("drop", "flatten")):
        handles.append(getattr(model, name).register_forward_pre_hook(
            lambda _m, args, stage=stage: seen.__setitem__(stage, args[0].detach().clone())))
    with torch.no_grad():
        logits = model(x)
    for handle in handles:
        handle.remove()
    seen["relu"] = F.relu(seen["res"])
    return seen, torch.softmax(logits, dim=1)


HOOKED = ("stem", "bn", "act", "res", "relu", "add", "left", "right", "cat", "pool", "gap", "drop", "head")
#: TorchScript keeps the names of modules with weights; the others are named after their op
SCRIPT_NAMES = {"act": "relu", "relu": "relu_1", "pool": "max_pool2d", "gap": "adaptive_avg_pool2d",
                "drop": "dropout"}


def check_route(capsys, tmp_path, photo, original, model_args, names=None):
    """summary lists every stage; render's npz matches hooks on ``original`` and its probabilities.

    ``names`` maps a hooked module (or functional stage) to its stage name where the two differ."""
    names = {h: (names or {}).get(h, h) for h in HOOKED}
    code, out, err = run(capsys, "summary", *model_args, "--json")
    assert code == 0, err
    rows = json.loads(out)
    kinds = {r["kind"] for r in rows}
    assert KINDS <= kinds, kinds
    assert set(names.values()) <= {r["name"] for r in rows}
    assert rows[0]["input_shape"] == [3, 32, 32]
    npz = tmp_path / "stages.npz"
    code, _, err = run(capsys, "render", photo, "--model", *model_args, "--out", str(tmp_path / "r"),
                       "--npz", str(npz))
    assert code == 0, err
    with np.load(npz) as data:
        arrays = {k: data[k] for k in data.files}
    x = torch.from_numpy(arrays["input"])[None]
    seen, probabilities = hooked_stages(original, x)
    for hooked, stage in names.items():
        np.testing.assert_allclose(arrays[stage], seen[hooked][0].numpy(), atol=1e-4, err_msg=stage)
    assert not np.allclose(arrays["stem"], arrays["bn"], atol=1e-3)  # the in-place ReLU did not overwrite them
    assert (arrays["stem"] < 0).any() and (arrays["bn"] < 0).any()
    np.testing.assert_allclose(arrays["probabilities"], probabilities[0].numpy(), atol=1e-4)
    return rows


def test_code_file_with_a_function(capsys, tmp_path, photo, original, net_file):
    check_route(capsys, tmp_path, photo, original, [f"{net_file}:make_net", "--trust-file"])


@pytest.mark.parametrize("form", ["pt", "safetensors", "checkpoint"])
def test_code_file_with_a_class_and_weights(capsys, tmp_path, photo, original, net_file, form):
    from safetensors.torch import save_file

    state = original.state_dict()
    weights = tmp_path / f"weights.{'safetensors' if form == 'safetensors' else 'pt'}"
    if form == "safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(weights))
    elif form == "checkpoint":
        torch.save({"epoch": 3, "model_state_dict": state, "optimizer": {"lr": 0.1}}, weights)
    else:
        torch.save(state, weights)
    check_route(capsys, tmp_path, photo, original,
                [f"{net_file}:Branchy", "--weights", str(weights), "--trust-file"])


def test_installed_module(capsys, tmp_path, photo, original, monkeypatch):
    package = tmp_path / "site"
    package.mkdir()
    (package / f"{MODULE_NAME}.py").write_text(NET, encoding="utf-8")
    monkeypatch.syspath_prepend(str(package))
    monkeypatch.delitem(sys.modules, MODULE_NAME, raising=False)
    check_route(capsys, tmp_path, photo, original, [f"{MODULE_NAME}:make_net", "--trust-file"])


def test_pickled_whole_module_saved_from_main(capsys, tmp_path, photo, original, net_file, monkeypatch):
    path = tmp_path / "whole.pt"
    cls = type(original)
    with monkeypatch.context() as patch:  # as `python train.py` saves it: the class lives in __main__
        patch.setattr(cls, "__module__", "__main__")
        patch.setattr(sys.modules["__main__"], cls.__name__, cls, raising=False)
        torch.save(original, path)
    code, _, err = run(capsys, "summary", str(path), "--trust-file")
    assert code == 2 and err.count("\n") == 1
    assert "__main__.Branchy" in err and "--code" in err
    check_route(capsys, tmp_path, photo, original, [str(path), "--code", str(net_file), "--trust-file"])


def test_torch_export_program(capsys, tmp_path, photo, original):
    path = tmp_path / "branchy.pt2"
    torch.export.save(torch.export.export(original, (torch.zeros(1, 3, 32, 32),)), str(path))
    code, _, err = run(capsys, "summary", str(path))
    assert code == 2 and "torch.export program" in err and "--trust-file" in err and err.count("\n") == 1
    rows = check_route(capsys, tmp_path, photo, original, [str(path), "--trust-file"])
    assert [r["name"] for r in rows][:3] == ["stem", "bn", "act"]  # the user's module names, not aten ops
    model = load_model(path, "cpu", trust=True)
    assert model.cnnviz_spec.input_shape == (3, 32, 32)  # from the program's input


@pytest.mark.parametrize("how", ["script", "trace"])
def test_torchscript_shows_every_stage(capsys, tmp_path, photo, original, how):
    import warnings

    path = tmp_path / f"{how}.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch calls its own TorchScript API deprecated
        example = torch.zeros(1, 3, 32, 32)
        scripted = torch.jit.script(original) if how == "script" else torch.jit.trace(original, example)
    scripted.save(str(path))
    check_route(capsys, tmp_path, photo, original, [str(path), "--trust-file", "--input-shape", "3,32,32"],
                names=SCRIPT_NAMES)


def test_predict_a_user_model_with_labels_mean_and_std(capsys, tmp_path, photo, original, net_file):
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\nfox\nowl\nemu\n")
    argv = ["predict", photo, "--model", f"{net_file}:make_net", "--trust-file", "--labels", str(labels), "--json"]
    code, out, err = run(capsys, *argv, "--top", "5")
    assert code == 0, err
    top = json.loads(out)["top"]
    assert {c for c, _ in top} == {"cat", "dog", "fox", "owl", "emu"}
    code, out2, err = run(capsys, *argv, "--top", "5", "--mean", "0.5", "--std", "0.5")
    assert code == 0 and json.loads(out2)["top"] != top  # another normalisation, other scores


def test_spec_of_a_user_model_from_its_code_card_and_flags(tmp_path, net_file):
    model = load_model(f"{net_file}:make_net", "cpu", trust=True)
    spec = model.cnnviz_spec
    assert spec.input_shape == (3, 32, 32) and len(spec.class_names) == 5 and spec.preprocess == "imagenet"
    net_file.with_suffix(".json").write_text(json.dumps(
        {"class_names": list("abcde"), "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "preprocess": "resize"}))
    spec = load_model(f"{net_file}:make_net", "cpu", trust=True).cnnviz_spec
    assert spec.class_names == tuple("abcde") and spec.mean == (0.5,) * 3 and spec.preprocess == "resize"
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\nfox\nowl\nemu\n")
    spec = load_model(f"{net_file}:make_net", "cpu", trust=True, labels=labels, mean=(0.1,), std=(0.2, 0.3, 0.4),
                      input_shape=(3, 40, 40), preprocess="digit").cnnviz_spec
    assert spec.class_names == ("cat", "dog", "fox", "owl", "emu") and spec.mean == (0.1,) * 3
    assert spec.std == (0.2, 0.3, 0.4) and spec.input_shape == (3, 40, 40) and spec.preprocess == "digit"


def test_grey_network_without_a_stated_size_gets_digit_defaults_and_a_note(tmp_path):
    path = tmp_path / "grey.py"
    path.write_text("from torch import nn\n"
                    "def net():\n"
                    "    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten(),"
                    " nn.Linear(4, 10))\n")
    spec = load_model(f"{path}:net", "cpu", trust=True).cnnviz_spec
    assert spec.input_shape == (1, 28, 28) and spec.preprocess == "digit" and len(spec.class_names) == 10
    assert any("--input-shape" in note for note in spec.notes)


def test_code_refs_are_told_from_files_and_zoo_names():
    assert split_code_ref("net.py:Net") == ("net.py", "Net", True)
    assert split_code_ref("dir/my net.py:make_net") == ("dir/my net.py", "make_net", True)
    assert split_code_ref("pkg.mod:Name") == ("pkg.mod", "Name", False)
    assert split_code_ref(r"C:\models\net.pt") is None
    assert split_code_ref("lenet5-mnist") is None and split_code_ref("net.py") is None


def test_importing_leaves_no_trace_on_sys_path(net_file):
    before = list(sys.path)
    import_file(net_file)
    assert sys.path == before


def test_core_refuses_code_without_trust_and_runs_nothing(tmp_path):
    canary = tmp_path / "ran"
    path = tmp_path / "evil.py"
    path.write_text(f"open({str(canary)!r}, 'w').close()\nfrom torch import nn\nNet = nn.Identity\n")
    with pytest.raises(UntrustedFileError, match="--trust-file"):
        load_model(f"{path}:Net", "cpu")
    assert not canary.exists()
    with pytest.raises(ModelError, match="--weights goes with"):
        load_model("lenet5", "cpu", weights=tmp_path / "w.pt")


@pytest.fixture
def bad_files(tmp_path, net_file, original):
    (tmp_path / "raises.py").write_text("raise RuntimeError('no GPU here')\n")
    (tmp_path / "syntax.py").write_text("def broken(:\n")
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(3)\n")
    other = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 1))
    torch.save(other.state_dict(), tmp_path / "other.pt")
    (tmp_path / "labels.txt").write_text("only\ntwo\n")
    torch.export.save(torch.export.export(original, (torch.zeros(1, 3, 32, 32),)), str(tmp_path / "prog.pt2"))
    torch.save(original, tmp_path / "whole.pt")
    del sys.modules[type(original).__module__]  # as in a fresh process: the pickle's class is nowhere
    return tmp_path


@pytest.mark.parametrize("argv,fragment", [
    (["{d}/usernet.py:make_net"], "--trust-file"),
    (["{d}/usernet.py:Nope", "--trust-file"], "has no 'Nope'"),
    (["{d}/usernet.py:NOT_A_NET", "--trust-file"], "not a network class"),
    (["{d}/usernet.py:not_a_net", "--trust-file"], "returned a str"),
    (["{d}/usernet.py:INPUT_SHAPE", "--trust-file"], "not a network class"),
    (["{d}/raises.py:Net", "--trust-file"], "raised RuntimeError: no GPU here while being imported"),
    (["{d}/syntax.py:Net", "--trust-file"], "raised SyntaxError"),
    (["{d}/exits.py:Net", "--trust-file"], "exited"),
    (["{d}/missing.py:Net", "--trust-file"], "does not exist"),
    (["no_such_package.mod:Net", "--trust-file"], "no installed module"),
    (["{d}/usernet.py:Branchy", "--weights", "{d}/other.pt", "--trust-file"], "does not fit"),
    (["{d}/usernet.py:Branchy", "--weights", "{d}/nothing.pt", "--trust-file"], "does not exist"),
    (["{d}/usernet.py:make_net", "--labels", "{d}/labels.txt", "--trust-file"], "names 2 classes"),
    (["{d}/usernet.py:make_net", "--mean", "0.1,0.2", "--trust-file"], "--mean has 2 values"),
    (["{d}/usernet.py:make_net", "--input-shape", "1,32,32", "--trust-file"], "on an input of shape 1,32,32"),
    (["lenet5", "--weights", "{d}/other.pt"], "--weights goes with"),
    (["{d}/whole.pt", "--code", "{d}/usernet.py"], "--trust-file"),
    (["{d}/whole.pt", "--trust-file"], "whose class cnnviz_user_usernet_"),
    (["{d}/whole.pt", "--code", "{d}/raises.py", "--trust-file"], "raised RuntimeError"),
    (["{d}/other.pt", "--code", "{d}/usernet.py", "--trust-file"], "--code goes with a pickled"),
    (["{d}/prog.pt2", "--code", "{d}/usernet.py", "--trust-file"], "--code goes with a pickled"),
    (["{d}/prog.pt2"], "torch.export program"),
])
def test_bad_user_models_are_one_line_exit_2(capsys, bad_files, argv, fragment):
    argv = [a.replace("{d}", str(bad_files)) for a in argv]
    code, _, err = run(capsys, "summary", *argv)
    assert code == 2, err
    assert err.startswith("cnnviz: error: ") and fragment in err and err.count("\n") == 1, err
    assert "Traceback" not in err
