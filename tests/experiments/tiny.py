"""A tiny experiment config (conjugate Gaussian hierarchy, 3 groups x 2 observations + 1
held out): every row compiles in about a second, and its exact log evidence is known."""
import copy

from jaxis.config import Config, config_from_dict

TINY = {
    "model": "gaussian_hierarchy",
    "dataset": {
        "name": "gaussian_hierarchy",
        "synthetic": True,
        "sizes": {"num_groups": 3, "num_observations": 2, "num_test_observations": 1},
    },
    "K": [2, 4],
    "global_is_K": [5, 50],
    "num_runs": 3,
    "num_posterior_samples": 10,
    "seed": 0,
    "methods": ["mp_is", "global_is"],
    "out_dir": "results/tiny",
}


def tiny_config(**changes) -> Config:
    """:data:`TINY` with top-level keys replaced."""
    raw = copy.deepcopy(TINY)
    raw.update(changes)
    return config_from_dict(raw)
