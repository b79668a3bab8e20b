"""Model presets: shapes, variable-length input, replaceable head, normalisation, relative cost."""
import time

import numpy as np
import pytest
import torch

from accent.errors import AccentError
from accent.models import PRESETS, build_model, model_config


@pytest.mark.parametrize("preset", ["tdnn", "cnn2d"])
def test_preset_outputs_logits_and_embeddings_for_any_length(preset):
    torch.manual_seed(0)
    model = build_model(model_config(preset, n_mels=64, n_classes=7)).eval()
    for frames in (300, 137):
        x = torch.randn(3, frames, 64)
        assert model(x).shape == (3, 7)
        assert model.embed(x).shape == (3, model.config["embed_dim"])


def test_replace_head_keeps_body_and_changes_classes():
    model = build_model(model_config("tdnn", 32, 12)).eval()
    x = torch.randn(2, 200, 32)
    before = model.embed(x).detach()
    model.replace_head(4)
    assert model(x).shape == (2, 4) and model.config["n_classes"] == 4
    assert torch.allclose(model.embed(x), before)
    assert all(id(p) not in {id(q) for q in model.head.parameters()} for p in model.body_parameters())


def test_normalisation_is_part_of_the_model():
    """A constant offset on the input is removed by the stored mean, so the prediction is unchanged."""
    torch.manual_seed(0)
    model = build_model(model_config("tdnn", 16, 3)).eval()
    x = torch.randn(2, 120, 16)
    ref = model(x)
    model.set_normalization(np.full(16, 5.0, np.float32), np.ones(16, np.float32))
    assert torch.allclose(model(x + 5.0), ref, atol=1e-5)
    restored = build_model(model.config)
    restored.load_state_dict(model.state_dict())
    assert torch.allclose(restored.eval()(x + 5.0), ref, atol=1e-5)


def test_specaugment_only_in_training():
    model = build_model(model_config("tdnn", 16, 3))
    x = torch.randn(4, 100, 16)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    torch.manual_seed(1)
    masked = model._prepare(x)
    assert (masked == 0).any()


def test_unknown_preset_is_a_one_line_error():
    with pytest.raises(AccentError, match="unknown model preset"):
        model_config("resnet", 64, 3)
    assert {"tdnn", "tdnn-large", "cnn2d", "cnn2d-large"} <= set(PRESETS)


def _step_seconds(model, x, y, reps=5):
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    best = float("inf")
    for _ in range(reps + 1):
        t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        best = min(best, time.perf_counter() - t0)
    return best


def test_tdnn_is_several_times_cheaper_than_cnn2d_per_crop():
    """About 5x on an idle core (docs/benchmarks.md); 2.5x here so a loaded machine cannot fail it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x, y = torch.randn(2, 300, 64), torch.randint(0, 12, (2,))
        tdnn = _step_seconds(build_model(model_config("tdnn", 64, 12)).train(), x, y)
        cnn = _step_seconds(build_model(model_config("cnn2d", 64, 12)).train(), x, y)
    finally:
        torch.set_num_threads(threads)
    assert cnn / tdnn > 2.5, f"tdnn {tdnn:.3f}s vs cnn2d {cnn:.3f}s per step"
