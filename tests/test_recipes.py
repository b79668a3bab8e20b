"""Recipes as files: the shipped TOML defaults, --recipe FILE and --set, recorded in run.json."""
from __future__ import annotations

import json

import pytest

from accent.errors import AccentError
from accent.training import config


def test_shipped_recipes_resolve_over_the_pretrain_defaults():
    base = config.resolve("pretrain")
    assert base["model"]["preset"] == "tdnn" and set(base["train"]) == config.RECIPE_KEYS
    finetune = config.resolve("finetune")
    assert finetune["train"]["lr"] == 0.001 and finetune["train"]["freeze_epochs"] == 1
    assert finetune["train"]["batch_size"] == base["train"]["batch_size"]   # not in finetune.toml: the default
    waveform = config.train_config(config.resolve("waveform_finetune"), seed=3)
    assert (waveform.batch_size, waveform.warmup_epochs, waveform.seed) == (16, 0.0, 3)


def test_a_user_recipe_and_sets_overlay_key_by_key(tmp_path):
    recipe = tmp_path / "mine.toml"
    recipe.write_text("[model]\npreset = \"cnn2d\"\nembed_dim = 64\n[train]\nlr = 0.01\nmax_epochs = 7\n")
    overlay = config.user_overlay(recipe, ["train.lr=0.002", "model.channels=[8, 16]", "train.crop_s=2"])
    resolved = config.resolve("scratch", overlay)
    assert resolved["train"]["lr"] == 0.002 and resolved["train"]["max_epochs"] == 7
    assert resolved["train"]["patience"] == 6            # scratch.toml
    assert resolved["train"]["weight_decay"] == 0.05     # pretrain.toml
    assert config.model_choice(resolved) == ("cnn2d", {"embed_dim": 64, "channels": [8, 16]})
    assert config.train_config(resolved).crop_s == 2


@pytest.mark.parametrize("text, message", [("[train]\nlearning_rate = 1\n", "learning_rate"),
                                           ("[train]\nmax_epochs = \"ten\"\n", "train.max_epochs"),
                                           ("[optimizer]\nlr = 1\n", "optimizer"),
                                           ("[train\n", "not valid TOML")])
def test_a_bad_recipe_is_a_one_line_error_naming_the_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(AccentError, match=message):
        config.user_overlay(path)


def test_a_bad_set_names_the_expected_form():
    with pytest.raises(AccentError, match="section.key=value"):
        config.parse_sets(["lr=0.1"])


def test_pretrain_from_the_command_line_records_the_resolved_recipe(tiny_stores, tmp_path, one_torch_thread):
    from accent.cli import main

    recipe = tmp_path / "small.toml"
    recipe.write_text("[model]\nchannels = [16, 16]\nkernels = [5, 3]\ndilations = [1, 2]\npool_channels = 16\n"
                      "embed_dim = 8\n[train]\nmin_crops_per_epoch = 32\ncrop_s = 1.0\n")
    out = tmp_path / "run"
    assert main(["pretrain", "--features", tiny_stores["target_big"], "--out", str(out), "--recipe", str(recipe),
                 "--set", "train.max_epochs=1", "--set", "train.lr=0.01"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["recipe"]["model"]["embed_dim"] == 8 and run["model_config"]["embed_dim"] == 8
    assert run["recipe"]["train"]["lr"] == 0.01 == run["train_config"]["lr"]
    assert run["epochs_run"] == 1 and run["train_config"]["crop_s"] == 1.0
    assert main(["pretrain", "--features", tiny_stores["target_big"], "--out", str(tmp_path / "x"),
                 "--set", "train.nope=1"]) == 2


def test_precision_auto_is_bfloat16_only_where_the_cpu_has_matrix_units_and_a_bad_value_is_one_line():
    import torch

    from accent.devices import cpu_has_bfloat16_matrix_units, resolve_precision

    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == ("bfloat16" if cpu_has_bfloat16_matrix_units() else "float32")
    assert resolve_precision("float32", cpu) == "float32" and resolve_precision("bfloat16", cpu) == "bfloat16"
    assert config.train_config(config.resolve("pretrain")).precision == "auto"   # the shipped default
    with pytest.raises(AccentError, match="train.precision = 'half'.*float32"):
        config.train_config(config.resolve("pretrain", config.user_overlay(None, ["train.precision=half"])))


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_run_json_records_the_precision_that_trained_and_predict_agrees_with_it(tiny_stores, tmp_path,
                                                                                one_torch_thread, precision):
    """Both precisions train the same small network to a usable model; the run's own predictions.csv
    (scored in float32 on the CPU, as `accent predict` scores) match predict's on the same recordings."""
    import numpy as np
    import pandas as pd

    from accent.inference import load_run, predict_store_rows
    from accent.store import FeatureStore
    from accent.transfer import run_transfer

    run = run_transfer(tiny_stores["target_big"], "scratch", tmp_path / precision, seed=0, max_epochs=2,
                       progress=False, recipe={"train": {"precision": precision, "crop_s": 1.0}})
    assert run["precision"] == precision == json.loads((tmp_path / precision / "run.json").read_text())["precision"]
    assert run["train_config"]["precision"] == precision
    table = pd.read_csv(tmp_path / precision / "predictions.csv", keep_default_na=False)
    store = FeatureStore.open(tiny_stores["target_big"])
    rows = store.index.reset_index(drop=True).reset_index().set_index("utt_id").loc[table["utt_id"], "index"]
    loaded = load_run(tmp_path / precision)
    again = predict_store_rows(loaded, store, rows.to_numpy())
    columns = [f"p_{label}" for label in loaded.labels]
    assert np.allclose(again, table[columns].to_numpy(float), atol=1e-4)
