"""Config validation: checkers of single values, then the cross-field checks.

Every value checker takes ``(key, value, example)``, returns the value and otherwise raises
a ``ValueError`` naming the key, what it expects and a working ``--set key=example``
(:mod:`jaxis.config` builds its sections from them). :func:`_validate` then checks what
depends on several keys: a known model and its dataset, the dataset's options, data found.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping, Optional

from .datasets import check_dataset_options, load_dataset, synthetic_sizes
from .models import REGISTRY

if TYPE_CHECKING:
    from .config import Config


def _check(key: str, ok: bool, value: Any, expected: str, example: str) -> None:
    if not ok:
        raise ValueError(
            f"{key}: expected {expected}, got {value!r}. Fix: e.g. '{key}: {example}' in the "
            f"YAML, or --set '{key}={example}'."
        )


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _str(key: str, v: Any, example: str) -> str:
    _check(key, isinstance(v, str) and v != "", v, "a non-empty string", example)
    return v


def _optional_str(key: str, v: Any, example: str) -> Optional[str]:
    return None if v is None else _str(key, v, example)


def _bool(key: str, v: Any, example: str) -> bool:
    _check(key, isinstance(v, bool), v, "true or false", example)
    return v


def _non_negative_int(key: str, v: Any, example: str) -> int:
    _check(key, _is_int(v) and v >= 0, v, "an integer >= 0", example)
    return v


def _positive_int(key: str, v: Any, example: str) -> int:
    _check(key, _is_int(v) and v >= 1, v, "an integer >= 1", example)
    return v


def _positive_ints(key: str, v: Any, example: str) -> tuple[int, ...]:
    ok = isinstance(v, (list, tuple)) and all(_is_int(k) and k >= 1 for k in v)
    _check(key, ok, v, "a list of integers >= 1", example)
    return tuple(v)


def _methods(key: str, v: Any, example: str) -> tuple[str, ...]:
    """A non-empty list of methods the runner can run (the runner's own list)."""
    from .experiments._metrics import check_methods  # lazy: the runner imports this module

    ok = isinstance(v, (list, tuple)) and len(v) > 0 and all(isinstance(m, str) for m in v)
    _check(key, ok, v, "a non-empty list of method names", example)
    return check_methods(tuple(v))


def _positive_floats(key: str, v: Any, example: str) -> tuple[float, ...]:
    ok = isinstance(v, (list, tuple)) and len(v) > 0 and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0 for x in v)
    _check(key, ok, v, "a non-empty list of numbers > 0", example)
    return tuple(float(x) for x in v)


def _learning_methods(key: str, v: Any, example: str) -> tuple[str, ...]:
    """A non-empty list of the proposal-learning methods the runner can run."""
    from .experiments._learning_methods import check_learning_methods  # lazy, as _methods

    ok = isinstance(v, (list, tuple)) and len(v) > 0 and all(isinstance(m, str) for m in v)
    _check(key, ok, v, "a non-empty list of method names", example)
    return check_learning_methods(tuple(v))


def _int_map(key: str, v: Any, example: str) -> dict[str, int]:
    ok = isinstance(v, Mapping) and all(isinstance(k, str) and _is_int(n) for k, n in v.items())
    _check(key, ok, v, "a mapping of names to integers", example)
    return dict(v)


def _validate(cfg: "Config", *, check_paths: bool) -> "Config":
    """Cross-field checks: known model and dataset, options the dataset has, data found."""
    data = cfg.dataset
    if cfg.model not in REGISTRY:
        raise ValueError(
            f"model: unknown model {cfg.model!r}; choose one of {', '.join(REGISTRY)}."
        )
    if data.name != cfg.model:
        raise ValueError(
            f"dataset.name: {data.name!r} is not the data of model {cfg.model!r}. "
            f"Fix: set dataset.name: {cfg.model}."
        )
    try:
        check_dataset_options(
            data.name, synthetic=data.synthetic, corrected=data.corrected, run=data.run
        )
    except ValueError as error:
        raise ValueError(f"dataset.{error}") from None
    valid_sizes = synthetic_sizes(data.name)
    bad = [k for k in data.sizes if k not in valid_sizes or not data.synthetic]
    if bad:
        raise ValueError(
            f"dataset.sizes.{bad[0]}: sizes apply to synthetic data only, and {data.name} "
            f"accepts {', '.join(valid_sizes)}. Fix: remove it or set dataset.synthetic: true."
        )
    for method, key in (("mp_is", "K"), ("global_is", "global_is_K")):
        if method in cfg.methods and not getattr(cfg, key):
            raise ValueError(f"{key}: method {method} needs at least one value, e.g. [3, 10].")
    learning = cfg.learning
    if learning is not None:
        if learning.num_iterations % learning.eval_every:
            raise ValueError(
                f"learning.eval_every: {learning.eval_every} does not divide "
                f"learning.num_iterations ({learning.num_iterations}). Fix: e.g. "
                f"--set learning.eval_every={math.gcd(learning.num_iterations, 10)}."
            )
        if "qem" in learning.methods and max(learning.lrs) > 1:
            raise ValueError(
                f"learning.lrs: QEM's learning rate is a moving-average weight in (0, 1], "
                f"got {max(learning.lrs)}. Fix: e.g. --set 'learning.lrs=[0.3, 0.1]'."
            )
    if check_paths and not data.synthetic:
        try:
            load_dataset(data.name, path=data.path, corrected=data.corrected, run=data.run)
        except FileNotFoundError as error:
            raise ValueError(
                f"dataset.path: {error}\nOr use synthetic data: --set dataset.synthetic=true."
            ) from None
        except ValueError as error:  # a file that is there but unreadable or incomplete
            raise ValueError(f"dataset.path: {error}") from None
    return cfg
