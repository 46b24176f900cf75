"""The paper's own synthetic data (``*_FAKE_DATA.npz``), with its true latents.

These files hold one prior-predictive draw of the paper's code on the real covariates
(train + test plates): ``obs_train``, ``obs_all``, ``cov_all__<arg>`` and
``true_latent__<site>``. The paper's code names some sites differently; they are renamed to
this package's site names and reshaped to the sites' shapes. The bus-breakdown code's
``log_sigma_phi_psi`` (a latent the likelihood never uses) is dropped.
"""
from __future__ import annotations

from typing import Optional

from ..models import get_model, site_shapes
from ._model_data import ModelData, heldout_axis, split_model_data
from ._npz import read_arrays
from ._paths import PathLike, data_file

PAPER_SITE_NAMES: dict[str, dict[str, Optional[str]]] = {
    "chimpanzees": {"beta_PC": "beta_pc", "beta_P": "beta_p"},
    "bus_breakdown": {
        "mu_beta": "global_mean",
        "sigma_beta": "global_variance",
        "beta": "year_mean",
        "sigma_alpha": "year_variance",
        "alpha": "year_borough_weight",
        "phi": "company_weight",
        "psi": "journey_type_weight",
        "log_sigma_phi_psi": None,
    },
    "movielens": {"mu_z": "mu", "psi_z": "psi"},
}
"""Per model: the paper code's site name -> ours (``None``: dropped); others unchanged."""


def load_paper_fake_data(name: str, *, path: Optional[PathLike] = None) -> ModelData:
    """The paper's synthetic data for ``name`` (chimpanzees, bus_breakdown or movielens).

    Args:
        name: the model's name.
        path: ``{name}_FAKE_DATA.npz`` or its folder.

    Returns:
        :class:`ModelData` split like the real data, with ``latents`` holding the true
        values (train + test plates) in the shapes of the model's sites.
    """
    if name not in PAPER_SITE_NAMES:
        raise ValueError(
            f"No paper fake data for {name!r}; the paper ships it for "
            f"{', '.join(PAPER_SITE_NAMES)}."
        )
    file = data_file(f"{name}_FAKE_DATA.npz", path=path)
    arrays = read_arrays(file)
    all_data = {k.split("__", 1)[1]: v for k, v in arrays.items() if k.startswith("cov_all__")}
    all_data["obs"] = arrays["obs_all"]
    renames = PAPER_SITE_NAMES[name]
    latents = {}
    for key, value in arrays.items():
        if key.startswith("true_latent__"):
            paper_name = key.split("__", 1)[1]
            site = renames.get(paper_name, paper_name)
            if site is not None:
                latents[site] = value
    shapes = site_shapes(get_model(name).model, all_data)
    latents = {site: v.reshape(shapes[site]) for site, v in latents.items()}
    return split_model_data(
        name,
        all_data,
        arrays["obs_train"].shape[heldout_axis(name, arrays["obs_train"])],
        description=f"{file} (the paper's synthetic data)",
        latents=latents,
    )
