"""Experiment configuration: a typed, validated, frozen :class:`Config` read from YAML.

A config names a model and its data, the sample counts ``K`` for MP IS and for global IS,
the number of repeated runs (for standard errors), the posterior samples to draw, the seed,
the methods to run and the output folder; an optional ``learning`` section
(:class:`LearningConfig`) trains proposals (the paper's Figure 3). ``configs/*.yaml`` in the
repository hold one per experiment; :data:`DEFAULT_CONFIG` (synthetic chimpanzee-structured
data, a few ``K``, well under a minute) ships inside the package.

Every problem is a ``ValueError`` naming the key and the fix: a method the runner cannot
run, a data file that is missing, unreadable or lacks an array. Overrides use the CLI's
``--set key=value`` syntax: values are parsed as YAML and dotted keys reach into sections.

Example:
    >>> cfg = apply_overrides(DEFAULT_CONFIG, ["K=[5, 10]", "dataset.sizes.num_actors=3"])
    >>> cfg.K, cfg.dataset.sizes["num_actors"]
    ((5, 10), 3)
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, Union

from ._config_checks import (
    _bool,
    _int_map,
    _learning_methods,
    _methods,
    _non_negative_int,
    _optional_str,
    _positive_floats,
    _positive_int,
    _positive_ints,
    _str,
    _validate,
)
from ._extras import import_extra

yaml = import_extra("yaml", "jaxis.config")


def _section(cls: type) -> Callable:
    """Checker of a nested section: builds ``cls``, its keys prefixed by the section's."""
    return lambda key, value, example: _build(cls, value, f"{key}.")


def _optional_section(cls: type) -> Callable:
    """As :func:`_section`, with ``None`` (YAML ``null``) meaning the section is off."""
    return lambda key, value, example: None if value is None else _build(cls, value, f"{key}.")


def _spec(check: Callable, example: str) -> dict:
    return {"check": check, "example": example}


@dataclass(frozen=True)
class DatasetConfig:
    """Where the data come from.

    Attributes:
        name: dataset name (= the model's name, see :data:`jaxis.datasets.DATASETS`).
        path: the data file or its folder; ``None``: ``JAXIS_DATA_DIR`` or
            ``shared/data/mpis`` beside the repository.
        run: the paper's random subsample (bus breakdown: 0 or 10).
        corrected: use the corrected variant of a defective paper dataset.
        synthetic: draw data from the model's prior predictive instead of reading a file.
        sizes: keyword sizes of the synthetic generator (e.g. ``num_actors``).
    """

    name: str = field(metadata=_spec(_str, "chimpanzees"))
    path: Optional[str] = field(default=None, metadata=_spec(_optional_str, "/data/mpis"))
    run: int = field(default=0, metadata=_spec(_non_negative_int, "0"))
    corrected: bool = field(default=False, metadata=_spec(_bool, "false"))
    synthetic: bool = field(default=False, metadata=_spec(_bool, "true"))
    sizes: Mapping[str, int] = field(
        default_factory=dict, metadata=_spec(_int_map, "{num_actors: 7}")
    )


@dataclass(frozen=True)
class LearningConfig:
    """Learned proposals (the paper's Figure 3): each method trained at each learning rate.

    Attributes:
        methods: from :data:`jaxis.experiments.LEARNING_LABELS` (``vi``, ``iwae``,
            ``mp_vi``, ``rws``, ``mp_rws``, ``qem``).
        K: samples per latent (joint samples for ``iwae`` / ``rws``) of each training
            step, and of the MP bound ``log P-hat`` recorded at the evaluation points.
        lrs: Adam learning rates (QEM: the moving-average weight, in (0, 1]).
        num_iterations: training iterations per run.
        eval_every: iterations between evaluation points (it divides ``num_iterations``).
        final_K: one-shot MP IS with each final proposal at these K (e.g. [30]).
    """

    methods: tuple[str, ...] = field(metadata=_spec(_learning_methods, "[mp_vi, mp_rws]"))
    K: int = field(default=10, metadata=_spec(_positive_int, "10"))
    lrs: tuple[float, ...] = field(
        default=(0.3, 0.1, 0.03, 0.01), metadata=_spec(_positive_floats, "[0.3, 0.1]")
    )
    num_iterations: int = field(default=100, metadata=_spec(_positive_int, "100"))
    eval_every: int = field(default=10, metadata=_spec(_positive_int, "10"))
    final_K: tuple[int, ...] = field(default=(), metadata=_spec(_positive_ints, "[30]"))


@dataclass(frozen=True)
class Config:
    """One experiment.

    Attributes:
        model: model name in :data:`jaxis.models.REGISTRY`.
        dataset: a :class:`DatasetConfig`.
        K: MP IS samples per latent, one experiment per entry.
        global_is_K: global IS sample counts.
        num_runs: repeats of each experiment (for standard errors).
        num_posterior_samples: posterior samples per run (predictive log-likelihood).
        seed: the root PRNG seed.
        methods: methods to run, from :data:`jaxis.experiments.METHOD_LABELS`.
        out_dir: output folder.
        learning: learned proposals (a :class:`LearningConfig`), or ``None``: none.
    """

    model: str = field(metadata=_spec(_str, "chimpanzees"))
    dataset: DatasetConfig = field(
        metadata=_spec(_section(DatasetConfig), "{name: chimpanzees, synthetic: true}")
    )
    K: tuple[int, ...] = field(default=(), metadata=_spec(_positive_ints, "[3, 5, 10]"))
    global_is_K: tuple[int, ...] = field(
        default=(), metadata=_spec(_positive_ints, "[10, 100, 1000]")
    )
    num_runs: int = field(default=1, metadata=_spec(_positive_int, "10"))
    num_posterior_samples: int = field(default=100, metadata=_spec(_positive_int, "100"))
    seed: int = field(default=0, metadata=_spec(_non_negative_int, "0"))
    methods: tuple[str, ...] = field(
        default=("mp_is", "global_is"), metadata=_spec(_methods, "[mp_is, global_is]")
    )
    out_dir: str = field(default="results", metadata=_spec(_str, "results/chimpanzees"))
    learning: Optional[LearningConfig] = field(
        default=None, metadata=_spec(_optional_section(LearningConfig), "{methods: [mp_rws]}")
    )


def _build(cls: type, raw: Any, prefix: str) -> Any:
    """Instantiate dataclass ``cls`` from mapping ``raw``, checking keys and types."""
    where = prefix.rstrip(".") or "the config"
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: expected a mapping of keys to values, got {raw!r}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in raw if k not in fields]
    if unknown:
        raise ValueError(
            f"{prefix}{unknown[0]}: unknown key in {where}. Fix: remove it; valid keys: "
            f"{', '.join(fields)}."
        )
    values = {}
    for name, f in fields.items():
        key = prefix + name
        if name not in raw:
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if required:
                raise ValueError(f"{key}: missing. Fix: add e.g. '{key}: {f.metadata['example']}'.")
            continue
        values[name] = f.metadata["check"](key, raw[name], f.metadata["example"])
    return cls(**values)


def config_from_dict(raw: Mapping[str, Any], *, check_paths: bool = True) -> Config:
    """Validate a mapping (e.g. parsed YAML) into a :class:`Config`.

    Args:
        raw: the configuration.
        check_paths: also check that the data file of a non-synthetic dataset is found.
    """
    return _validate(_build(Config, raw, ""), check_paths=check_paths)


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """``cfg`` as plain YAML types (lists, dicts); ``config_from_dict`` inverts it."""

    def plain(value):
        if isinstance(value, tuple):
            return list(value)
        if isinstance(value, Mapping):
            return {k: plain(v) for k, v in value.items()}
        return value

    raw = plain(dataclasses.asdict(cfg))
    if raw["learning"] is None:  # an optional section that is off is left out
        del raw["learning"]
    return raw


def dump_config(cfg: Config) -> str:
    """``cfg`` as a YAML document."""
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False)


def _with_overrides(raw: Any, overrides: Sequence[str]) -> Any:
    """``raw`` (a parsed config) with each ``key=value`` override set in place."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"override {item!r}: expected key=value, e.g. K=[5,10].")
        *sections, leaf = key.strip().split(".")
        node = raw
        for depth, section in enumerate(sections):
            node = node.setdefault(section, {}) if isinstance(node, dict) else None
            if not isinstance(node, dict):
                where = ".".join(sections[: depth + 1])
                raise ValueError(f"override {item!r}: {where} is not a section of the config.")
        try:
            node[leaf] = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ValueError(f"override {item!r}: the value is not valid YAML ({error}).") from None
    return raw


def apply_overrides(cfg: Config, overrides: Sequence[str], *, check_paths: bool = True) -> Config:
    """Apply ``key=value`` overrides (YAML values, dotted keys) to ``cfg`` and re-validate.

    Example:
        >>> apply_overrides(DEFAULT_CONFIG, ["num_runs=3", "dataset.corrected=false"]).num_runs
        3
    """
    raw = _with_overrides(config_to_dict(cfg), overrides)
    return config_from_dict(raw, check_paths=check_paths)


def load_config(
    path: Optional[Union[str, Path]] = None,
    overrides: Sequence[str] = (),
    *,
    check_paths: bool = True,
) -> Config:
    """Read a YAML config (``None``: :data:`DEFAULT_CONFIG`), apply overrides, validate."""
    if path is None:
        return apply_overrides(DEFAULT_CONFIG, overrides, check_paths=check_paths)
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"config {str(file)!r} not found. Fix: give the path of a YAML file.")
    try:
        raw = yaml.safe_load(file.read_text())
    except yaml.YAMLError as error:
        raise ValueError(f"config {str(file)!r} is not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"config {str(file)!r}: expected a mapping of keys to values.")
    return config_from_dict(_with_overrides(raw, overrides), check_paths=check_paths)


DEFAULT_CONFIG = Config(
    model="chimpanzees",
    dataset=DatasetConfig(name="chimpanzees", synthetic=True),
    K=(3, 5, 10),
    global_is_K=(10, 100, 1000),
    num_runs=3,
    num_posterior_samples=100,
    seed=0,
    methods=("mp_is", "global_is"),
    out_dir="results/default",
)
"""The built-in demo: synthetic chimpanzee-structured data, a few K, well under a minute."""
