"""Training: augmentation keeps shape and range and changes the pictures; a checkpoint is written after every
epoch, a stopped run resumed from it ends where an uninterrupted run ends, and a checkpoint that is not this
run's (or no checkpoint at all) is refused in a sentence.

Whole training runs go through the command: tests/cli/test_train_command.py."""

from __future__ import annotations

import json

import pytest
import torch

from cnnviz.core.data.augment import augment_digits, augment_fashion
from cnnviz.core.data.datasets import load_samples


def test_augmentation_keeps_shape_and_range():
    generator = torch.Generator().manual_seed(0)
    x = torch.from_numpy(load_samples("mnist").images[:32]).float().div(255).unsqueeze(1)
    for augment in (augment_digits, augment_fashion):
        y = augment(x, generator)
        assert y.shape == x.shape and float(y.min()) >= 0.0 and float(y.max()) <= 1.0 + 1e-5
        assert not torch.equal(x, y)


# ---- checkpoints: a run loses at most the epoch it was in ------------------------------------------------------
def _tiny_run(epochs: int = 3):  # noqa: ANN202
    from cnnviz.core.train.training import TrainConfig, dataset_stats, training_data

    config = TrainConfig("lenet5", "samples-mnist", epochs, 16, 0.003, limit=64)  # 4 batches an epoch
    train_data, test_data = training_data(config.dataset, None, config.seed, config.limit)
    mean, std = dataset_stats(train_data.images)
    return config, train_data, test_data, mean, std


def test_a_checkpoint_and_its_card_after_every_epoch(tmp_path):
    from cnnviz.core.train.checkpoint import CheckpointPlan, card_of, read_checkpoint
    from cnnviz.core.train.training import train

    config, train_data, test_data, mean, std = _tiny_run()
    path = tmp_path / "run.ckpt"
    seen = []

    def on_epoch(stats) -> None:  # noqa: ANN001 - the checkpoint of an epoch is written before it is reported
        checkpoint = read_checkpoint(path)
        card = json.loads(card_of(path).read_text())
        seen.append((stats.epoch, checkpoint.epoch, card["checkpoint_epoch"], len(card["history"])))

    result = train(config, train_data, test_data, torch.device("cpu"), mean, std, on_epoch=on_epoch,
                   checkpoint=CheckpointPlan(path, "cnnviz train ...", "run.safetensors"))
    assert seen == [(1, 1, 1, 1), (2, 2, 2, 2), (3, 3, 3, 3)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ckpt", "run.ckpt.json"]  # no temporary left

    raw = torch.load(path, map_location="cpu", weights_only=True)  # tensors and plain values only
    assert raw["format"] == "cnnviz-train-checkpoint" and raw["version"] == 1
    meta = json.loads(raw["meta"])
    assert meta["config"]["arch"] == "lenet5" and meta["epoch"] == 3 and meta["out"] == "run.safetensors"
    assert meta["sizes"] == [64, 40] and meta["command"] == "cnnviz train ..."
    for name, tensor in result.model.state_dict().items():
        assert torch.equal(raw["model"][name], tensor)
    checkpoint = read_checkpoint(path, "lenet5", "samples-mnist")
    assert checkpoint.finished and checkpoint.config == config and checkpoint.class_names == train_data.class_names
    assert [h.epoch for h in checkpoint.history] == [1, 2, 3] and checkpoint.describe() == (
        "lenet5 on samples-mnist, 3 of 3 epochs done")


def test_a_run_stopped_mid_epoch_resumes_to_the_same_end_as_one_never_stopped(tmp_path):
    from cnnviz.core.train.checkpoint import CheckpointPlan, read_checkpoint, resume_data
    from cnnviz.core.train.training import TrainControl, train

    config, train_data, test_data, mean, std = _tiny_run()
    cpu = torch.device("cpu")
    whole = train(config, train_data, test_data, cpu, mean, std)

    path = tmp_path / "run.ckpt"
    control = TrainControl()

    def stop_in_epoch_2(step: int, loss: float, accuracy: float, model) -> None:  # noqa: ANN001
        if step == 6:  # the second batch of epoch 2
            control.stop()

    stopped = train(config, train_data, test_data, cpu, mean, std, on_step=stop_in_epoch_2, control=control,
                    checkpoint=CheckpointPlan(path))
    assert [h.epoch for h in stopped.history] == [1, 2]  # the partial epoch is in the result, evaluated
    assert stopped.evaluation is not None
    checkpoint = read_checkpoint(path)
    assert checkpoint.epoch == 1 and not checkpoint.finished  # the last whole epoch is kept

    steps, epochs = [], []
    again, test_again = resume_data(checkpoint)
    resumed = train(checkpoint.config, again, test_again, cpu, checkpoint.mean, checkpoint.std,
                    on_step=lambda step, *_: steps.append(step), on_epoch=lambda s: epochs.append(s.epoch),
                    checkpoint=CheckpointPlan(path), resume=checkpoint)
    assert steps[0] == 5 and len(steps) == 8 and epochs == [2, 3]  # only the interrupted epoch is done again
    assert [h.epoch for h in resumed.history] == [1, 2, 3] and resumed.history[0] == checkpoint.history[0]
    assert resumed.resumed_from == {"checkpoint": str(path), "epoch": 1, "command": ""}
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name  # the saved weights, optimiser, schedule and random state: the same run
    assert resumed.evaluation.accuracy == whole.evaluation.accuracy
    assert read_checkpoint(path).epoch == 3

    finished = read_checkpoint(path)  # nothing left: the model as it ended, evaluated, no batch run
    done = train(finished.config, again, test_again, cpu, finished.mean, finished.std,
                 on_step=lambda *_: pytest.fail("a finished run trained"), resume=finished)
    assert len(done.history) == 3 and done.evaluation.accuracy == whole.evaluation.accuracy


def test_a_checkpoint_of_another_run_or_no_checkpoint_is_refused(tmp_path):
    from dataclasses import replace

    from cnnviz.core.errors import CheckpointError
    from cnnviz.core.train.checkpoint import CheckpointPlan, read_checkpoint
    from cnnviz.core.train.training import save_trained, train, training_data

    config, train_data, test_data, mean, std = _tiny_run(epochs=1)
    path = tmp_path / "run.ckpt"
    result = train(config, train_data, test_data, torch.device("cpu"), mean, std, checkpoint=CheckpointPlan(path))
    with pytest.raises(CheckpointError, match="run.ckpt is a checkpoint of lenet5 trained on samples-mnist, not of "
                                              "mnist-cnn on samples-mnist"):
        read_checkpoint(path, arch="mnist-cnn")
    with pytest.raises(CheckpointError, match="not of lenet5 on samples-fashion"):
        read_checkpoint(path, dataset="samples-fashion")

    checkpoint = read_checkpoint(path)
    other_data, other_test = training_data("samples-mnist", None, 0, limit=48)
    with pytest.raises(CheckpointError, match="trained on 64 samples-mnist images in 10 classes .* now has 48"):
        train(config, other_data, other_test, torch.device("cpu"), mean, std, resume=checkpoint)
    with pytest.raises(CheckpointError, match="other settings"):
        train(replace(config, lr=0.1), train_data, test_data, torch.device("cpu"), mean, std, resume=checkpoint)
    raw = torch.load(path, weights_only=True)
    raw["model"] = {k: v[..., :1] if v.dim() > 1 else v for k, v in raw["model"].items()}  # other shapes
    torch.save(raw, tmp_path / "shapes.ckpt")
    with pytest.raises(CheckpointError, match="does not fit lenet5"):
        train(config, train_data, test_data, torch.device("cpu"), mean, std,
              resume=read_checkpoint(tmp_path / "shapes.ckpt"))

    model = save_trained(tmp_path / "run.safetensors", result, config, train_data.class_names, mean, std,
                         (64, 40), "test").with_suffix(".safetensors")
    refusals = {model: "a trained model, not a training checkpoint; give the .ckpt file",
                model.with_suffix(".json"): "not a cnnviz training checkpoint",
                tmp_path / "missing.ckpt": "does not exist",
                tmp_path: "is a folder, not a file"}
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(path.read_bytes()[:2000])
    refusals[truncated] = "not a cnnviz training checkpoint"
    code = tmp_path / "code.ckpt"
    torch.save({"format": "cnnviz-train-checkpoint", "hook": print}, code)  # a pickled function
    refusals[code] = "holds pickled Python objects.*never unpickles code"
    tampered = tmp_path / "tampered.ckpt"
    meta = json.loads(raw["meta"])
    meta["epoch"] = 7
    torch.save({**raw, "meta": json.dumps(meta)}, tampered)
    refusals[tampered] = "damaged training checkpoint: its 'epoch' is not a number of epochs done"
    newer = tmp_path / "newer.ckpt"
    torch.save({**raw, "version": 2}, newer)
    refusals[newer] = "another version"
    for bad, sentence in refusals.items():
        with pytest.raises(CheckpointError, match=sentence):
            read_checkpoint(bad)
