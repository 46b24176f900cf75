"""Hierarchical recycling: a population likelihood from per-source posterior samples.

Source ``j`` was fitted alone under a vague prior ``pi_0``, giving draws
``theta_ji ~ p(theta | d_j, pi_0)``, ``i = 1..n_j``. For a population model
``pi(theta | Lambda)`` the likelihood of the hyper-parameters is, up to a constant,

    log L(Lambda) = sum_j log Lhat_j - N log xi(Lambda),
    Lhat_j = (1/n_j) sum_i w_ji,   w_ji = pi(theta_ji | Lambda) / pi_0(theta_ji),

i.e. each source's evidence ratio ``Z_j(Lambda) / Z_j(pi_0)`` by importance sampling (the
blog's reverberation-mapping example; gravitational-wave population inference). The
optional selection term uses found injections ``theta_k ~ p_draw`` out of ``N_inj`` drawn:
``xi(Lambda) = (1/N_inj) sum_found pi(theta_k | Lambda) / p_draw(theta_k)``.

Monte Carlo uncertainty (delta method; Farr 2019, Golomb & Talbot 2022):

    Var[log Lhat_j] = (mean_i w^2 / (mean_i w)^2 - 1) / n_j  = 1 / n_eff_j
    Var[log xi]     = sum_k w_k^2 / (N_inj xi)^2 - 1 / N_inj = 1 / n_eff_sel
    Var[log L]      = sum_j Var[log Lhat_j] + N^2 Var[log xi]

A variance estimated from fewer than 2 effective samples (Kish's ``1 / sum wbar^2``; one
draw, a source masked down to one draw, or one draw dominating) is unknown, not zero: it
is NaN and the estimate untrusted. A source whose weights are all zero has ``Lhat_j = 0``
and an infinite variance. NaN inputs give NaN; ``pi_0 = 0`` at a draw is an input error
(``ValueError`` outside jit, NaN under jit).

The estimate is trusted while ``Var[log L] <= max_variance`` and ``n_eff_sel > 4 N``
(Farr 2019). ``penalty="hard"`` returns ``-inf`` outside that region (as gwpopulation's
``maximum_uncertainty``); ``penalty="smooth"`` subtracts the one-sided quadratic barrier

    1/2 (Var[log L] - max_variance)_+^2 + 1/2 (N^2 Var[log xi] - N/4)_+^2

(zero where the estimate is trusted, continuous gradient), which NUTS can integrate.
Both penalties give ``-inf`` where the variance is unknown (NaN from too few samples).

References: Mandel, Farr, Gair (2019), MNRAS 486, 1086; Farr (2019), RNAAS 3, 66,
*Accuracy requirements for empirically measured selection functions*; Golomb & Talbot
(2022), arXiv:2106.15745; Talbot & Golomb (2023), MNRAS 526, 3495.
"""
from __future__ import annotations

from typing import Literal, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpyro

from ..weighted._checks import check_possible
from ..weighted._log_space import log_density_ratio, log_mean_exp_and_ratio

Array = jax.Array
Penalty = Literal["none", "hard", "smooth"]

__all__ = [
    "SelectionEfficiency",
    "PopulationLikelihood",
    "detection_efficiency",
    "population_log_likelihood",
    "population_factor",
]


class SelectionEfficiency(NamedTuple):
    """``log xi(Lambda)``, its Monte Carlo variance and effective injection count."""

    log_efficiency: Array
    variance: Array
    n_eff: Array


class PopulationLikelihood(NamedTuple):
    """Recycled population log-likelihood and its Monte Carlo diagnostics."""

    log_likelihood: Array  # penalised as requested; use this in numpyro.factor
    variance: Array  # Var[log L] (sources + selection)
    n_eff: Array  # (sources,) effective samples per source, 1 / Var[log Lhat_j]
    log_likelihood_per_source: Array  # (sources,) log Lhat_j
    selection_n_eff: Array  # n_eff of the selection term (inf without one)
    trusted: Array  # variance <= max_variance and selection_n_eff > 4 N


def _relative_variance(ratio: Array, count: Array) -> Array:
    """``(E[w^2] / E[w]^2 - 1) / count``: ``inf`` where ``E[w] = 0`` (ratio ``inf``), NaN
    where it rests on fewer than 2 effective samples (``count / ratio < 2``, or fewer
    than 2 draws) or the ratio is NaN."""
    finite = jnp.isfinite(ratio)
    safe = jnp.where(finite, ratio, 1.0)
    var = jnp.where(finite, jnp.maximum(safe - 1.0, 0.0) / jnp.maximum(count, 1.0), jnp.inf)
    enough = (count >= 2.0 * safe) & ~jnp.isnan(ratio)
    return jnp.where(enough, var, jnp.nan)


def _inverse(var: Array) -> Array:
    """``1 / var`` with ``1/0 = inf``, ``1/inf = 0`` and NaN kept, NaN-free under grad."""
    positive = var > 0
    inverse = jnp.where(positive, 1.0 / jnp.where(positive, var, 1.0), jnp.inf)
    return jnp.where(jnp.isnan(var), jnp.nan, inverse)


def detection_efficiency(
    log_pop: Array, log_draw: Array, *, num_injections: int
) -> SelectionEfficiency:
    """Selection efficiency ``xi(Lambda)`` from found injections, with its variance.

    Args:
        log_pop: ``(found,)`` ``log pi(theta_k | Lambda)`` at the found injections.
        log_draw: ``(found,)`` log density the injections were drawn from (``-inf`` at a
            found injection is an input error: ``ValueError``, NaN under jit).
        num_injections: total number drawn (found or not), ``>= found``.
    """
    log_draw = jnp.asarray(log_draw)
    lw = log_density_ratio(jnp.asarray(log_pop), log_draw)
    if lw.ndim != 1:
        raise ValueError(
            f"log_pop / log_draw must be 1-D over found injections, got shape {lw.shape}."
        )
    if num_injections < lw.shape[0]:
        raise ValueError(
            f"num_injections={num_injections} is smaller than the {lw.shape[0]} found "
            "injections; pass the total number drawn, found or not."
        )
    check_possible(log_draw, jnp.ones(lw.shape, bool), "log_draw")
    # sum w^2 / (N xi)^2 - 1/N = (E[w^2]/E[w]^2 - 1) / N with E over all N draws
    log_xi, ratio = log_mean_exp_and_ratio(lw, 0, count=num_injections)
    var = _relative_variance(ratio, num_injections)
    return SelectionEfficiency(log_xi, var, _inverse(var))


def population_log_likelihood(
    log_pop: Array,
    log_old: Array,
    *,
    mask: Optional[Array] = None,
    selection: Optional[SelectionEfficiency] = None,
    penalty: Penalty = "none",
    max_variance: float = 1.0,
) -> PopulationLikelihood:
    """Recycled population log-likelihood ``sum_j log mean_i pi(theta_ji|Lambda)/pi_0(theta_ji)``.

    Args:
        log_pop: ``(sources, samples)`` ``log pi(theta_ji | Lambda)``.
        log_old: ``log pi_0(theta_ji)``, the prior the per-source fits used; broadcast
            against ``log_pop`` (a scalar for a flat prior).
        mask: optional ``(sources, samples)`` bool, ``False`` for padding of ragged
            sources (padding takes no part, whatever its values). Pad with finite values
            (e.g. repeat a real sample) so that gradients of your population density stay
            finite there.
        selection: optional ``detection_efficiency(...)`` of the same ``Lambda``.
        penalty: ``"none"``, ``"hard"`` (``-inf`` outside the trusted region) or
            ``"smooth"`` (quadratic barrier, for NUTS).
        max_variance: largest trusted ``Var[log L]``.

    Example:
        >>> import jax
        >>> from jax.scipy.stats import norm
        >>> from jaxis import population_log_likelihood
        >>> # 4 sources x 200 posterior draws each, fitted under a flat prior (log pi_0 = 0)
        >>> theta = 1.0 + 0.3 * jax.random.normal(jax.random.PRNGKey(0), (4, 200))
        >>> res = population_log_likelihood(norm.logpdf(theta, 1.0, 0.5), 0.0)
        >>> res.log_likelihood.shape, res.log_likelihood_per_source.shape, res.n_eff.shape
        ((), (4,), (4,))

    In a model, ``numpyro.factor("pop", res.log_likelihood)`` (or :func:`population_factor`).
    """
    log_pop = jnp.asarray(log_pop)
    if log_pop.ndim != 2:
        raise ValueError(
            f"log_pop must have shape (sources, samples), got {log_pop.shape}; for one "
            "source use log_pop[None]."
        )
    try:
        log_old = jnp.broadcast_to(jnp.asarray(log_old, log_pop.dtype), log_pop.shape)
    except ValueError:
        raise ValueError(
            f"log_old of shape {jnp.shape(log_old)} does not broadcast to log_pop's "
            f"{log_pop.shape}; pass one value per (source, sample) or a scalar."
        ) from None
    if mask is not None and jnp.shape(mask) != log_pop.shape:
        raise ValueError(
            f"mask must have log_pop's shape {log_pop.shape}, got {jnp.shape(mask)}."
        )
    if penalty not in ("none", "hard", "smooth"):
        raise ValueError(f"penalty must be 'none', 'hard' or 'smooth', got {penalty!r}.")
    num_sources, num_draws = log_pop.shape
    drawn = jnp.ones(log_pop.shape, bool) if mask is None else jnp.asarray(mask, bool)
    check_possible(log_old, drawn, "log_old")
    lw = log_density_ratio(log_pop, log_old)
    count = jnp.sum(drawn, axis=1).astype(lw.dtype)
    per_source, ratio = log_mean_exp_and_ratio(lw, 1, where=drawn)
    per_source = jnp.where(count > 0, per_source, jnp.nan)  # no draws: no estimate
    var_sources = _relative_variance(ratio, count)
    log_l = jnp.sum(per_source)
    variance = jnp.sum(var_sources)
    selection_n_eff = jnp.asarray(jnp.inf, lw.dtype)
    selection_excess = jnp.asarray(0.0, lw.dtype)
    if selection is not None:
        log_l = log_l - num_sources * selection.log_efficiency
        selection_var = num_sources**2 * selection.variance
        variance = variance + selection_var
        selection_n_eff = selection.n_eff
        selection_excess = jax.nn.relu(selection_var - num_sources / 4.0)
    trusted = (variance <= max_variance) & (selection_n_eff > 4 * num_sources)
    unknown = jnp.isnan(variance) & ~jnp.isnan(log_l)  # too few samples, not NaN input
    if penalty == "hard":
        log_l = jnp.where(trusted | jnp.isnan(log_l), log_l, -jnp.inf)
    elif penalty == "smooth":
        excess = jax.nn.relu(jnp.where(unknown, 0.0, variance) - max_variance)
        log_l = log_l - 0.5 * (jnp.square(excess) + jnp.square(selection_excess))
        log_l = jnp.where(unknown, -jnp.inf, log_l)
    return PopulationLikelihood(
        log_l, variance, _inverse(var_sources), per_source, selection_n_eff, trusted
    )


def population_factor(
    name: str,
    log_pop: Array,
    log_old: Array,
    *,
    record: bool = True,
    **kwargs,
) -> PopulationLikelihood:
    """Add ``population_log_likelihood(...)`` to a numpyro model as ``numpyro.factor``.

    With ``record=True`` the Monte Carlo variance and the smallest per-source ``n_eff``
    are kept as deterministic sites ``{name}_variance`` and ``{name}_min_n_eff`` so that
    the posterior draws can be checked afterwards. Keyword arguments are passed on.

    Example:
        >>> def model(theta):
        ...     mu = numpyro.sample("mu", dist.Normal(0, 10))
        ...     population_factor("pop", dist.Normal(mu, 1.0).log_prob(theta), 0.0,
        ...                       penalty="smooth")
    """
    res = population_log_likelihood(log_pop, log_old, **kwargs)
    numpyro.factor(name, res.log_likelihood)
    if record:
        numpyro.deterministic(f"{name}_variance", res.variance)
        numpyro.deterministic(f"{name}_min_n_eff", jnp.min(res.n_eff))
    return res
