"""Training recipes: the shipped TOML files in ``accent/recipes/``, user recipe files and ``--set``.

A recipe has two sections: ``[model]`` (``preset`` and any override of the preset's keys) and
``[train]`` (the fields of :class:`TrainConfig`, crop length included). Each training path has a
shipped recipe: ``pretrain`` (whose ``[train]`` holds every default), ``scratch``, ``finetune`` and
``waveform_finetune`` (which override some of them). A user's ``--recipe FILE`` then ``--set
section.key=value`` overlay the shipped recipe key by key; the result is recorded in run.json.

Torch-free: the command line reads recipes without importing the training code.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from accent.errors import AccentError, check_keys

SECTIONS = ("model", "train")
RECIPES = ("pretrain", "scratch", "finetune", "waveform_finetune")
SELECT = ("val_bacc", "val_loss")   # what early stopping and model selection compare
PRECISIONS = ("auto", "float32", "bfloat16")   # accent.devices.resolve_precision resolves "auto" (this module stays torch-free)
BASE = "pretrain"   # its [train] holds the default of every training field


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run; stored in the checkpoint and run.json. The recipe
    fields have no defaults here: they come from ``recipes/pretrain.toml`` (:func:`train_config`)."""

    crop_s: float
    batch_size: int
    lr: float
    weight_decay: float
    label_smoothing: float
    max_epochs: int
    patience: int
    warmup_epochs: float
    passes_per_epoch: float      # an epoch draws enough crops to cover the training frames this often
    min_crops_per_epoch: int     # keeps an epoch meaningful when the training set is tiny
    freeze_epochs: int           # transfer: epochs with only the new head trained
    body_lr_mult: float          # transfer: learning-rate factor for everything but the head
    grad_clip: float
    # model selection (defaults here only so that checkpoints written before these keys still load):
    select: str = "val_bacc"     # keep the epoch with the best val_bacc (ties: val_loss) or the lowest val_loss
    ema: float = 0.0             # >0: select among exponential moving averages of the weights (per-epoch decay)
    guard: bool = False          # the starting weights (a linear probe) are kept unless an epoch beats their val loss
    precision: str = "float32"   # "auto", "float32" or "bfloat16" autocast (accent.devices.resolve_precision);
                                 # runs written before this key trained in float32 on the CPU
    seed: int = 0
    device: str = "cpu"
    compile: bool = False

    def __post_init__(self):
        if self.select not in SELECT:
            raise AccentError(f"train.select = {self.select!r}: choose one of {', '.join(SELECT)}")
        if self.precision not in PRECISIONS:
            raise AccentError(f"train.precision = {self.precision!r}: choose one of {', '.join(PRECISIONS)}")
        if not 0.0 <= self.ema < 1.0:
            raise AccentError(f"train.ema = {self.ema!r}: a decay in [0, 1) (0 turns the average off)")

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        check_keys(d, {f.name for f in fields(cls)}, "training setting")
        return cls(**d)


RECIPE_KEYS = {f.name for f in fields(TrainConfig)} - {"seed", "device", "compile"}


def _parse(text: str, where: str) -> dict:
    try:
        recipe = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AccentError(f"{where} is not valid TOML ({exc}): see accent/recipes/*.toml for the format") from None
    return check_recipe(recipe, where)


def check_recipe(recipe: dict, where: str) -> dict:
    """Refuse unknown sections, unknown [train] keys and values of the wrong type, naming them."""
    unknown = sorted(set(recipe) - set(SECTIONS))
    if unknown:
        raise AccentError(f"{where}: unknown section(s) {', '.join(unknown)}; a recipe has [model] and [train]")
    for section in SECTIONS:
        if not isinstance(recipe.get(section, {}), dict):
            raise AccentError(f"{where}: {section} must be a table ([{section}])")
    bad = sorted(set(recipe.get("train", {})) - RECIPE_KEYS)
    if bad:
        raise AccentError(f"{where}: unknown [train] key(s) {', '.join(bad)}; known: {', '.join(sorted(RECIPE_KEYS))}")
    types = {f.name: f.type for f in fields(TrainConfig)}
    for key, value in recipe.get("train", {}).items():
        wanted = {"int": int, "float": (int, float), "bool": bool, "str": str}[types[key]]
        if isinstance(value, bool) and types[key] != "bool" or not isinstance(value, wanted):
            raise AccentError(f"{where}: train.{key} = {value!r} should be a {types[key]}")
    return {s: dict(recipe.get(s, {})) for s in SECTIONS}


def shipped(name: str) -> dict:
    """A recipe shipped in the package (``accent/recipes/<name>.toml``), as written."""
    if name not in RECIPES:
        raise AccentError(f"unknown recipe {name!r}: shipped recipes are {', '.join(RECIPES)}")
    text = resources.files("accent").joinpath("recipes").joinpath(f"{name}.toml").read_text(encoding="utf-8")
    return _parse(text, f"accent/recipes/{name}.toml")


def read_recipe_file(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise AccentError(f"recipe {path} not found: copy one of accent/recipes/*.toml and edit it")
    return _parse(path.read_text(encoding="utf-8"), str(path))


def parse_sets(assignments: list[str] | None) -> dict:
    """``["train.lr=0.001", "model.embed_dim=64"]`` -> an overlay; values are TOML (a bare word is a string)."""
    overlay: dict = {s: {} for s in SECTIONS}
    for item in assignments or []:
        key, sep, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not name:
            raise AccentError(f"--set {item!r}: expected section.key=value, e.g. train.lr=0.001 or model.embed_dim=64")
        try:
            parsed = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value.strip()
        overlay.setdefault(section, {})[name.strip()] = parsed
    return check_recipe(overlay, "--set")


def merge(*recipes: dict | None) -> dict:
    """Later recipes override earlier ones key by key, section by section."""
    out: dict = {s: {} for s in SECTIONS}
    for recipe in recipes:
        for section, values in (recipe or {}).items():
            out.setdefault(section, {}).update(copy.deepcopy(values))
    return out


def user_overlay(recipe_file: str | Path | None = None, sets: list[str] | None = None) -> dict:
    """What the user changed: ``--recipe FILE`` then ``--set`` assignments."""
    return merge(read_recipe_file(recipe_file) if recipe_file else None, parse_sets(sets))


def resolve(name: str, overlay: dict | None = None) -> dict:
    """The full recipe of a training path: pretrain's [train] defaults, the path's shipped recipe,
    then the user's overlay."""
    base = shipped(BASE)
    own = shipped(name) if name != BASE else {}
    return merge({"model": base["model"] if name == BASE else {}, "train": base["train"]}, own, overlay)


def train_config(recipe: dict, **fixed) -> TrainConfig:
    """The TrainConfig of a resolved recipe, with run-level values (seed, device, ...) on top."""
    return TrainConfig.from_dict({**recipe["train"], **fixed})


def model_choice(recipe: dict, preset: str | None = None) -> tuple[str, dict]:
    """(preset, overrides) from a recipe's [model]; an explicit ``preset`` argument wins."""
    model = dict(recipe.get("model", {}))
    chosen = model.pop("preset", None)
    return preset or chosen, model


def as_record(recipe: dict, cfg: TrainConfig | None = None) -> dict:
    """The recipe as run.json records it (the train section as finally used, when given)."""
    record = copy.deepcopy(recipe)
    if cfg is not None:
        record["train"] = {k: v for k, v in asdict(cfg).items() if k in RECIPE_KEYS}
    return record


def add_recipe_options(p) -> None:
    """--recipe and --set, shared by pretrain, transfer and curve."""
    p.add_argument("--recipe", default=None, metavar="FILE",
                   help="TOML recipe overriding the shipped one key by key ([model] preset and overrides, [train] "
                        "hyper-parameters and crop_s; see accent/recipes/*.toml)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one recipe value, e.g. --set train.lr=0.001 --set model.embed_dim=64 (repeatable)")
