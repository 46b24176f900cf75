"""Weight transforms: a new target by importance reweighting, recycling, power scaling, PSIS.

Every function here is a pure ``WeightedSamples -> WeightedSamples`` that keeps the
samples and multiplies each weight by a density ratio (in log space):

    log w'_n = log w_n + log r(z_n),   r = p_new / p_old

so that ``Z' = sum_n w'_n`` estimates ``int p_new`` when ``sum_n w_n`` estimated
``int p_old``. Special cases:

- recycling posterior chains under a new prior (the blog's prior swap):
  ``r = pi_new / pi_old`` and ``Z' / Z = Z_new / Z_old``;
- power scaling a component (prior or likelihood) ``c`` by ``alpha``:
  ``p_alpha ∝ c^alpha * rest`` so ``r = c^(alpha - 1)`` (prior-sensitivity checks;
  ``d E_alpha[f] / d alpha`` at ``alpha = 1`` is ``Cov_p(f, log c)`` via ``jax.grad``);
- Pareto smoothing of the weights (``psis``), which trades a little bias for a finite
  variance when the weight tail is heavy;
- the blog's marginalisation trick (``marginal_replace``): split ``theta = (phi, eta)``,
  keep ``phi_n``, redraw ``eta'_n ~ g(eta | phi_n)`` (e.g. from a galaxy catalogue when
  the new target has spikes the old draws never visit). ``{phi_n, w_n}`` represents the
  old marginal ``m_S(phi) = int rho_S(phi, eta) d eta``, so

      log w'_n = log w_n + log rho_T(phi_n, eta'_n) - log m_S(phi_n) - log g(eta'_n | phi_n)

  and ``m_S(phi_n)`` comes per sample from quadrature over the low-dimensional ``eta``,
  ``log m_S(phi_n) ≈ logsumexp_g [log rho_S(phi_n, eta_g) + log omega_g]``
  (``log_marginal_quadrature``). For ``from_posterior`` draws ``m_S`` is the normalised
  posterior marginal.

Nested-sampling sets keep their per-sample prior volumes: never recompute live-point
counts after reweighting. Transforms compose: ``resample(prior_swap(from_nested(...)))``.

Edge cases follow IEEE arithmetic on ``w * p_new / p_old`` (NaN in, NaN out; ``p_new = 0``
gives a zero weight) with one exception: ``p_old = 0`` at a sample that carries weight is
an input error (no draw comes from where the old target has no mass), raised as a
``ValueError`` outside jit and returned as a NaN weight under jit; a row that already has
zero weight there keeps zero weight.

References: Owen (2013), *Monte Carlo theory, methods and examples*, ch. 9; Kallioinen,
Paananen, Bürkner, Vehtari (2023), *Detecting and diagnosing prior and likelihood
sensitivity with power-scaling*, Stat. Comput. 34, 57; Vehtari et al. (2024), *Pareto
smoothed importance sampling*, JMLR 25(72); the importance-sampling blog in
``shared/papers`` ("The Marginalization Trick").
"""
from __future__ import annotations

from typing import Callable, Mapping, Union

import jax
import jax.numpy as jnp

from ..weighted._checks import check_possible
from ..weighted._log_space import log_density_ratio, logsumexp, per_sample
from ..weighted._psis import psis_log_weights
from ..weighted._weighted_samples import WeightedSamples, leading_sizes

Array = jax.Array
PerSample = Union[Array, Callable[[dict], Array]]

__all__ = [
    "reweight",
    "prior_swap",
    "power_scale",
    "psis",
    "marginal_replace",
    "log_marginal_quadrature",
]


def _reweighted(
    ws: WeightedSamples, log_new: Array, log_old: Array, name: str
) -> Array:
    """``log w + log(p_new / p_old)`` with the rows where ``p_old = 0`` handled.

    Such a row that carries weight is an input error (``ValueError`` naming ``name``
    outside jit, a NaN weight under jit); a row without weight stays without weight (NaN
    if ``p_new`` is NaN).
    """
    lw = ws.log_weights
    check_possible(log_old, lw > -jnp.inf, name)
    out = lw + log_density_ratio(log_new, log_old)  # NaN wherever p_old = 0
    keep_zero = (log_old == -jnp.inf) & (lw == -jnp.inf) & ~jnp.isnan(log_new)
    return jnp.where(keep_zero, -jnp.inf, out)


def reweight(ws: WeightedSamples, log_ratio: PerSample) -> WeightedSamples:
    """Move the weights to a new target: ``log w' = log w + log(p_new / p_old)``.

    Args:
        ws: weighted samples of ``p_old`` (unnormalised is fine).
        log_ratio: ``(N,)`` array or callable ``samples -> (N,)`` of ``log p_new - log p_old``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jax.scipy.stats import norm
        >>> from jaxis import WeightedSamples, reweight
        >>> x = 2.0 * jax.random.normal(jax.random.PRNGKey(0), (1000,))   # x_n ~ q = N(0, 2^2)
        >>> log_q = norm.logpdf(x, 0.0, 2.0)
        >>> ws = WeightedSamples.from_log_ratios({"x": x}, norm.logpdf(x, 1.0, 1.0) - log_q)
        >>> log_r = lambda s: norm.logpdf(s["x"], -1.0, 1.0) - norm.logpdf(s["x"], 1.0, 1.0)
        >>> ws2 = reweight(ws, log_r)                  # p_old = N(1, 1) -> p_new = N(-1, 1)
        >>> direct = WeightedSamples.from_log_ratios({"x": x}, norm.logpdf(x, -1.0, 1.0) - log_q)
        >>> bool(jnp.allclose(ws2.log_weights, direct.log_weights))  # as if aimed at p_new
        True
    """
    log_ratio = per_sample(log_ratio, ws.samples, ws.num_samples, "log_ratio")
    return ws.replace(log_weights=ws.log_weights + log_ratio)


def prior_swap(
    ws: WeightedSamples, old_log_prior: PerSample, new_log_prior: PerSample
) -> WeightedSamples:
    """Recycle samples of ``L * pi_old`` for ``L * pi_new``: ``r = pi_new / pi_old``.

    ``log_evidence()`` of the result estimates ``log Z_new`` when that of ``ws`` was
    ``log Z_old`` (it is ``log(Z_new / Z_old)`` for ``from_posterior`` draws). Raises
    ``ValueError`` if ``old_log_prior`` is ``-inf`` at a sample with weight (under jit:
    a NaN weight there); NaN priors give NaN weights.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jax.scipy.stats import norm
        >>> from jaxis import WeightedSamples, prior_swap
        >>> lag = 10.0 * jax.random.uniform(jax.random.PRNGKey(0), (500,))  # posterior draws
        >>> ws = WeightedSamples.from_posterior({"lag": lag})  # (here: of a flat prior on [0, 10])
        >>> flat = lambda s: jnp.full_like(s["lag"], -jnp.log(10.0))
        >>> ws2 = prior_swap(ws, flat, lambda s: norm.logpdf(s["lag"], 3.0, 1.0))
        >>> ws2.num_samples, bool(jnp.isfinite(ws2.log_evidence()))  # log(Z_new / Z_old)
        (500, True)
        >>> bool(jnp.allclose(prior_swap(ws, flat, flat).log_weights, ws.log_weights))
        True
    """
    old = per_sample(old_log_prior, ws.samples, ws.num_samples, "old_log_prior")
    new = per_sample(new_log_prior, ws.samples, ws.num_samples, "new_log_prior")
    return ws.replace(log_weights=_reweighted(ws, new, old, "old_log_prior"))


def power_scale(ws: WeightedSamples, alpha: Array, component: PerSample) -> WeightedSamples:
    """Power-scale one component ``c`` of the target: ``p_alpha ∝ c^alpha * rest``.

    ``log w' = log w + (alpha - 1) log c``. ``component`` is the per-sample ``log c``
    (``log prior`` or ``log likelihood``), an ``(N,)`` array or a callable of the samples.
    The scaled target is unnormalised: ``log_evidence()`` is ``log int c^alpha * rest``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jax.scipy.stats import norm
        >>> from jaxis import WeightedSamples, power_scale
        >>> x = 2.0 * jax.random.normal(jax.random.PRNGKey(0), (1000,))   # x_n ~ q = N(0, 2^2)
        >>> log_q = norm.logpdf(x, 0.0, 2.0)
        >>> ws = WeightedSamples.from_log_ratios({"x": x}, norm.logpdf(x, 1.0, 1.0) - log_q)
        >>> log_prior = lambda s: norm.logpdf(s["x"], 0.0, 3.0)  # c: say the target's prior part
        >>> lo, hi = (power_scale(ws, a, log_prior) for a in (0.9, 1.1))
        >>> lo.log_weights.shape, bool(jnp.allclose(power_scale(ws, 1.0, log_prior).log_weights,
        ...                                          ws.log_weights))   # alpha = 1: unchanged
        ((1000,), True)
    """
    log_c = per_sample(component, ws.samples, ws.num_samples, "component")
    zero = log_c == -jnp.inf  # c = 0 where a sample has weight: an input error
    alpha = jnp.asarray(alpha, log_c.dtype)
    log_new = jnp.where(zero, jnp.where(jnp.isnan(alpha), jnp.nan, -jnp.inf),
                        alpha * jnp.where(zero, 0.0, log_c))
    return ws.replace(log_weights=_reweighted(ws, log_new, log_c, "component"))


def psis(ws: WeightedSamples, *, r_eff: float = 1.0) -> WeightedSamples:
    """Pareto-smooth the largest weights (Vehtari et al. 2024); needs ``N >= 10``.

    The ``M = max(ceil(min(N/5, 3 sqrt(N/r_eff))), 5)`` largest weights are replaced by
    the quantiles of a generalised Pareto distribution fitted to them, truncated at the
    largest raw weight (:func:`jaxis.psis_log_weights`). The smoothed weights keep their scale
    (not renormalised). Check ``ws.pareto_k()`` first: smoothing cannot rescue
    ``k > min(1 - 1/log10 N, 0.7)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jax.scipy.stats import norm
        >>> from jaxis import WeightedSamples, psis
        >>> x = 2.0 * jax.random.normal(jax.random.PRNGKey(0), (1000,))   # x_n ~ q = N(0, 2^2)
        >>> log_q = norm.logpdf(x, 0.0, 2.0)
        >>> ws = WeightedSamples.from_log_ratios({"x": x}, norm.logpdf(x, 1.0, 1.0) - log_q)
        >>> smoothed = psis(ws)
        >>> smoothed.samples is ws.samples, smoothed.log_weights.shape
        (True, (1000,))
        >>> bool(smoothed.log_weights.max() <= ws.log_weights.max())
        True
    """
    return ws.replace(log_weights=psis_log_weights(ws.log_weights, r_eff=r_eff).log_weights)


def marginal_replace(
    ws: WeightedSamples,
    replacements: Mapping[str, Array],
    *,
    log_replacement_density: PerSample,
    log_old_marginal: PerSample,
    log_target: PerSample,
) -> WeightedSamples:
    """Marginalisation trick: replace sites ``eta`` by new draws, reweight to ``rho_T``.

    Args:
        ws: weighted samples of ``rho_S`` over ``(phi, eta)``.
        replacements: dict site -> ``(N, ...)`` new draws ``eta'_n ~ g(eta | phi_n)``.
        log_replacement_density: ``log g(eta'_n | phi_n)``; callable of the *new* samples
            dict, or an ``(N,)`` array.
        log_old_marginal: ``log m_S(phi_n)``; callable of the *old* samples, or an array.
        log_target: ``log rho_T(phi_n, eta'_n)``; callable of the new samples, or an array.

    Example (schematic: redraw a sky position from a galaxy catalogue)::

        eta = jax.random.choice(key, galaxies, (ws.num_samples,))
        ws2 = marginal_replace(ws, {"sky": eta}, log_replacement_density=log_catalogue,
                               log_old_marginal=log_m, log_target=log_new_posterior)
    """
    num = ws.num_samples
    for name, rows in leading_sizes(dict(replacements)).items():
        if rows != num:
            raise ValueError(
                f"replacements{name} has {rows} rows; draw one replacement per sample "
                f"({num})."
            )
    old_marginal = per_sample(log_old_marginal, ws.samples, num, "log_old_marginal")
    new_samples = {**ws.samples, **replacements}
    log_g = per_sample(log_replacement_density, new_samples, num, "log_replacement_density")
    log_t = per_sample(log_target, new_samples, num, "log_target")
    log_w = _reweighted(ws, log_t, old_marginal + log_g,
                        "log_old_marginal + log_replacement_density")
    return ws.replace(samples=new_samples, log_weights=log_w)


def log_marginal_quadrature(
    log_density: Callable[[dict], Array],
    samples: Mapping[str, Array],
    *,
    site: str,
    nodes: Array,
    log_node_weights: Array,
) -> Array:
    """``log int rho(phi_n, eta) d eta`` per sample by quadrature over ``eta = samples[site]``.

    Args:
        log_density: ``samples dict -> (N,)`` log joint density ``log rho(phi, eta)``.
        samples: dict with the ``phi`` sites (``(N, ...)``); ``site`` is set per node.
        site: name of the integrated site ``eta``.
        nodes: ``(G, ...)`` quadrature nodes (event shape of ``eta``).
        log_node_weights: ``(G,)`` log quadrature weights (e.g. ``log`` grid spacing).

    Returns:
        ``(N,)`` ``log m(phi_n)``.
    """
    nodes = jnp.asarray(nodes)
    log_node_weights = jnp.asarray(log_node_weights)
    if log_node_weights.shape != nodes.shape[:1]:
        raise ValueError(
            f"log_node_weights must have shape ({nodes.shape[0]},), one per node, got "
            f"{log_node_weights.shape}."
        )
    rows = set(leading_sizes(dict(samples)).values())
    if len(rows) != 1:
        raise ValueError(
            f"samples must share one leading sample axis, got sizes {sorted(rows)}."
        )
    (num,) = rows

    def at_node(eta: Array) -> Array:
        filled = {**samples, site: jnp.broadcast_to(eta, (num,) + eta.shape)}
        return per_sample(log_density, filled, num, "log_density")

    table = jax.vmap(at_node)(nodes)  # (G, N)
    return logsumexp(table + log_node_weights[:, None], axis=0)
