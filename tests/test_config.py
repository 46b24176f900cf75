"""Configs: the shipped YAMLs validate, round trips, every error names its key, overrides."""
from pathlib import Path

import pytest
import yaml

from jaxis.config import (
    DEFAULT_CONFIG,
    Config,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    dump_config,
    load_config,
)
from jaxis.datasets import DATA_DIR_ENV, data_file

CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))


def _shared_data_present() -> bool:
    try:
        data_file("chimpanzees.npz")
    except FileNotFoundError:
        return False
    return True


def test_default_yaml_is_the_packaged_default():
    assert yaml.safe_load((CONFIGS[0].parent / "default.yaml").read_text()) == config_to_dict(
        DEFAULT_CONFIG
    )
    assert load_config() == DEFAULT_CONFIG  # synthetic: no data needed


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_validate_and_round_trip(path):
    cfg = load_config(path, check_paths=False)
    assert isinstance(cfg, Config)
    assert config_from_dict(yaml.safe_load(dump_config(cfg)), check_paths=False) == cfg


@pytest.mark.skipif(not _shared_data_present(), reason="shared data not available")
@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_find_their_data(path):
    load_config(path)


def _raw(**changes):
    raw = config_to_dict(DEFAULT_CONFIG)
    for key, value in changes.items():
        section, _, leaf = key.rpartition("__")
        (raw[section] if section else raw)[leaf] = value
    return raw


BAD = [
    (_raw(foo=1), "foo"),
    (_raw(dataset__bogus=1), "dataset.bogus"),
    (_raw(K="5"), "K"),
    (_raw(K=[5, 0]), "K"),
    (_raw(num_runs=True), "num_runs"),
    (_raw(seed=-1), "seed"),
    (_raw(methods=["mcmc"]), "methods"),
    (_raw(methods=[]), "methods"),
    (_raw(out_dir=""), "out_dir"),
    (_raw(dataset__corrected="yes"), "dataset.corrected"),
    (_raw(dataset__sizes={"num_actors": "7"}), "dataset.sizes"),
    (_raw(dataset__sizes={"num_monkeys": 7}), "dataset.sizes.num_monkeys"),
    (_raw(dataset__synthetic=False, dataset__sizes={"num_actors": 3}), "dataset.sizes.num_actors"),
    (_raw(dataset=[1]), "dataset"),
    (_raw(model="chimps"), "model"),
    (_raw(model="movielens"), "dataset.name"),
    (_raw(K=[]), "K"),
    (_raw(global_is_K=[]), "global_is_K"),
    (_raw(dataset__corrected=True), "dataset.corrected"),  # synthetic data: nothing to correct
    (
        _raw(model="movielens", dataset__name="movielens", dataset__synthetic=False,
             dataset__corrected=True),
        "dataset.corrected",
    ),
    (
        _raw(model="prior_swap", dataset__name="prior_swap", dataset__synthetic=False,
             methods=["mp_is"]),
        "dataset.synthetic",
    ),
    (_raw(methods=["mp_is", "prior_swap"]), "methods"),  # valid configs are runnable
]


@pytest.mark.parametrize("raw, key", BAD, ids=[key for _, key in BAD])
def test_each_error_names_its_key(raw, key):
    with pytest.raises(ValueError) as info:
        config_from_dict(raw, check_paths=False)
    assert str(info.value).startswith(f"{key}:"), str(info.value)


def test_missing_required_key():
    raw = _raw()
    del raw["model"]
    with pytest.raises(ValueError, match=r"^model: missing\. Fix"):
        config_from_dict(raw, check_paths=False)


def test_type_errors_say_how_to_fix():
    with pytest.raises(ValueError, match=r"Fix: e\.g\. 'num_runs: 10'.*--set 'num_runs=10'"):
        config_from_dict(_raw(num_runs=2.5), check_paths=False)


def test_missing_data_names_dataset_path_and_the_fix(tmp_path, monkeypatch):
    raw = _raw(dataset__synthetic=False)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(ValueError) as info:
        config_from_dict(raw)
    message = str(info.value)
    assert message.startswith("dataset.path:") and "chimpanzees.npz" in message
    assert DATA_DIR_ENV in message and "dataset.synthetic=true" in message
    config_from_dict(raw, check_paths=False)  # the structure itself is fine


def test_overrides():
    cfg = apply_overrides(
        DEFAULT_CONFIG,
        ["K=[5,10]", "num_runs=3", "dataset.sizes.num_actors=3", "out_dir=out/x", "seed=7"],
    )
    assert cfg.K == (5, 10) and cfg.num_runs == 3 and cfg.seed == 7
    assert cfg.dataset.sizes == {"num_actors": 3} and cfg.out_dir == "out/x"
    assert cfg.model == DEFAULT_CONFIG.model  # untouched keys kept
    assert DEFAULT_CONFIG.dataset.sizes == {}  # the default is not mutated


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("K", "expected key=value"),
        ("=3", "expected key=value"),
        ("K.x=1", "K is not a section"),
        ("num_runs=abc", "num_runs:"),
        ("dataset.color=red", "dataset.color:"),
        ("K=[1,", "not valid YAML"),
    ],
)
def test_bad_overrides(override, fragment):
    with pytest.raises(ValueError, match=fragment):
        apply_overrides(DEFAULT_CONFIG, [override])


def test_load_config_with_overrides_and_bad_files(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(dump_config(DEFAULT_CONFIG))
    assert load_config(path, ["methods=[mp_is]"]).methods == ("mp_is",)
    with pytest.raises(ValueError, match="not found"):
        load_config(tmp_path / "none.yaml")
    path.write_text("model: [unclosed")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_config(path)
    path.write_text("- a list")
    with pytest.raises(ValueError, match="mapping"):
        load_config(path)
