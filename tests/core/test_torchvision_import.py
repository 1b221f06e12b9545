"""torchvision without TorchDynamo: each check runs in a fresh interpreter, as import state is global."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_torchvision_imports_without_dynamo_and_still_works():
    out = _run("""
        import sys
        import torch
        from cnnviz.core.torchvision_import import import_torchvision

        tv = import_torchvision()
        assert "torch._dynamo" not in sys.modules and "sympy" not in sys.modules, "dynamo came along"
        assert "torch._dynamo.utils" not in sys.modules, "the stand-in was left behind"
        assert import_torchvision() is tv is sys.modules["torchvision"]

        model = tv.models.get_model("resnet18", weights=None).eval()
        assert model(torch.rand(1, 3, 64, 64)).shape == (1, 1000)
        boxes = torch.tensor([[0, 0.0, 0.0, 8.0, 8.0]])
        pooled = tv.ops.roi_align(torch.rand(1, 2, 16, 16), boxes, output_size=2)
        assert pooled.shape == (1, 2, 2, 2)

        # the helper roi_align imported from torch._dynamo.utils answers as the real one, importing it then
        lazy = sys.modules["torchvision.ops.roi_align"].is_compile_supported
        import torch._dynamo.utils as real
        assert lazy("cpu") == real.is_compile_supported("cpu")
        assert sys.modules["torch._dynamo.utils"] is real and not hasattr(real, "_cnnviz_stand_in")
        print("ok")
    """)
    assert out == "ok"


def test_the_stand_in_hands_any_other_name_to_the_real_module():
    out = _run("""
        import sys
        from cnnviz.core import torchvision_import

        stand_in = torchvision_import._stand_in()
        sys.modules["torch._dynamo.utils"] = stand_in
        from torch._dynamo.utils import counters  # a name the stand-in does not have
        import torch._dynamo.utils as real
        assert counters is real.counters and real is not stand_in
        print("ok")
    """)
    assert out == "ok"


def test_after_dynamo_torchvision_is_imported_the_ordinary_way():
    out = _run("""
        import sys
        import torch._dynamo
        from cnnviz.core.torchvision_import import import_torchvision

        tv = import_torchvision()
        assert sys.modules["torchvision.ops.roi_align"].is_compile_supported is torch._dynamo.utils.is_compile_supported
        print("ok")
    """)
    assert out == "ok"
