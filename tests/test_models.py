"""Model presets: shapes, variable-length input, replaceable head, normalisation, relative cost."""

import numpy as np
import pytest
import torch

from accent.errors import AccentError
from accent.modelcost import multiply_adds
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


def test_multiply_adds_counts_convolutions_and_linear_layers_by_hand():
    model = torch.nn.Sequential(torch.nn.Conv1d(4, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(8 * 10, 5))
    # conv: 8 channels x 10 frames outputs, 4 x 3 multiply-adds each; linear: 5 outputs x 80 inputs
    assert multiply_adds(model, torch.randn(3, 4, 10)) == 8 * 10 * 4 * 3 + 5 * 80
    grouped = torch.nn.Conv2d(4, 4, (3, 5), padding="same", groups=2)
    assert multiply_adds(grouped, torch.randn(1, 4, 6, 7)) == 4 * 6 * 7 * 2 * 15


def test_tdnn_is_several_times_cheaper_than_cnn2d_per_crop():
    """Counted in multiply-adds, which load cannot change (wall-clock: benchmarks/bench_train.py)."""
    crop = torch.randn(1, 300, 64)  # a 3 s crop of 64 mel bins
    tdnn = multiply_adds(build_model(model_config("tdnn", 64, 12)), crop)
    cnn = multiply_adds(build_model(model_config("cnn2d", 64, 12)), crop)
    assert cnn / tdnn > 2.5, f"tdnn {tdnn / 1e6:.1f}M vs cnn2d {cnn / 1e6:.1f}M multiply-adds per crop"
