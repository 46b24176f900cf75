"""Model input as numpyro users write it: data-derived sizes, and broadcast-unsafe code.

- A model that computes a Python value from its data (``int(np.max(labels)) + 1``) runs
  as under numpyro's MCMC: numpy data it needs concrete are kept concrete; a traced jax
  array in that role is rejected with an error naming the argument.
- Model code that is not broadcast-safe under MP IS's leading sample axes (``jnp.dot``,
  ``loc[z]``, ``w.reshape``) is rejected with an error naming the site and the rewrite,
  also when K equals a data size; the rewritten models give the exact evidence.

Evidence checks: Z-hat is unbiased, so ``E[Z-hat / Z] = 1`` within 4 standard errors
computed from independent runs (vmapped over keys); ``Z`` is computed here in closed form
or by quadrature, not through jaxis.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.ops.indexing import Vindex
from scipy.special import gammaln
from scipy.stats import multivariate_normal, norm

import jaxis

KEY = jax.random.PRNGKey(0)
RUNS = 300


def assert_unbiased(run, log_z: float, *args, **kwargs) -> np.ndarray:
    """``E[Z-hat / Z] = 1`` within 4 standard errors over ``RUNS`` keys; the log Z-hats."""
    keys = jax.random.split(KEY, RUNS)
    log_zhat = jax.vmap(lambda k: jaxis.log_evidence(run(k, *args, **kwargs)))(keys)
    ratio = np.exp(np.asarray(log_zhat) - log_z)
    se = ratio.std(ddof=1) / math.sqrt(RUNS)
    assert se > 0
    assert abs(ratio.mean() - 1.0) < 4 * se, (ratio.mean(), se)
    return np.asarray(log_zhat)


# ---- data-derived sizes ----------------------------------------------------------------

LABELS = np.array([0, 2, 1, 2, 2, 0, 2, 1])


def annotations(labels):
    """numpyro's annotation pattern: the number of classes is read off the data."""
    num_classes = int(np.max(labels)) + 1
    p = numpyro.sample("p", dist.Dirichlet(jnp.ones(num_classes)))
    with numpyro.plate("items", labels.shape[0]):
        numpyro.sample("y", dist.Categorical(p), obs=labels)


def dirichlet_categorical_log_z(labels) -> float:
    """log p(labels) under a flat Dirichlet prior (closed form)."""
    counts = np.bincount(labels)
    n = counts.size
    return float(gammaln(n) - gammaln(n + labels.size) + gammaln(1 + counts).sum())


def test_size_read_from_numpy_data_gives_the_exact_evidence():
    run = jaxis.mpis(annotations, K=30)
    log_zhat = assert_unbiased(run, dirichlet_categorical_log_z(LABELS), labels=LABELS)
    by_position = jaxis.log_evidence(run(jax.random.split(KEY, RUNS)[0], LABELS))
    np.testing.assert_allclose(by_position, log_zhat[0], rtol=1e-12)


def test_global_is_keeps_the_data_concrete_too():
    """One latent, K iid weights: their mean is Z-hat, with a standard error of its own."""
    K = 4000
    ws = jaxis.global_is(annotations, K=K)(KEY, labels=LABELS)
    ratio = np.exp(np.asarray(ws.log_weights) + math.log(K)
                   - dirichlet_categorical_log_z(LABELS))
    se = ratio.std(ddof=1) / math.sqrt(K)
    assert ratio.shape == (K,) and se > 0
    assert abs(ratio.mean() - 1.0) < 4 * se, (ratio.mean(), se)


def test_concrete_data_compile_once_per_value_and_other_data_stay_traced():
    run = jaxis.mpis(annotations, K=5)
    run(KEY, LABELS)
    run(KEY, LABELS.copy())  # same content: no recompile
    assert run._jitted._cache_size() == 1
    other = np.array([0, 1, 1, 1, 0, 0, 1, 1])  # 2 classes: another graph, compiled anew
    assert run(KEY, other).samples["p"].shape == (5, 2)
    assert run._jitted._cache_size() == 2

    def plain(y):  # needs nothing concrete: new data of the same shape reuse the compilation
        m = numpyro.sample("m", dist.Normal(0, 1))
        with numpyro.plate("n", y.shape[0]):
            numpyro.sample("y", dist.Normal(m, 1), obs=y)

    run = jaxis.mpis(plain, K=5)
    each = [jaxis.log_evidence(run(KEY, y)) for y in (np.zeros(4), np.ones(4))]
    assert run._jitted._cache_size() == 1
    # traced data: vmap over datasets
    both = jax.vmap(lambda y: jaxis.log_evidence(run(KEY, y)))(jnp.stack([jnp.zeros(4),
                                                                           jnp.ones(4)]))
    np.testing.assert_allclose(both, each, rtol=1e-12)


@pytest.mark.parametrize("call, named", [
    (lambda run, labels: run(KEY, labels), r"argument 0 \('labels'\)"),
    (lambda run, labels: run(KEY, labels=labels), r"keyword argument 'labels'"),
    (lambda run, labels: run(KEY, {"labels": labels, "w": jnp.ones(2)}),
     r"argument 0 \('data'\), element \['labels'\]"),
])
def test_traced_data_the_model_needs_concrete_is_named(call, named):
    def model(data):
        annotations(data["labels"] if isinstance(data, dict) else data)

    def labels_model(labels):
        annotations(labels)

    run = jaxis.mpis(model if "data" in named else labels_model, K=4)
    with pytest.raises(ValueError, match=rf"Model {named} must be concrete.*numpy array.*int"):
        jax.jit(lambda lab: jaxis.log_evidence(call(run, lab)))(jnp.asarray(LABELS))


def test_traced_data_named_also_after_a_concrete_call():
    run = jaxis.mpis(annotations, K=4)
    run(KEY, LABELS)
    with pytest.raises(ValueError, match=r"argument 0 \('labels'\) must be concrete"):
        jax.vmap(lambda lab: jaxis.log_evidence(run(KEY, lab)))(jnp.stack([LABELS, LABELS]))


def test_a_sampled_size_is_blamed_on_the_sample_also_under_jit():
    def model(y):
        n = numpyro.sample("n", dist.Poisson(3.0))
        numpyro.sample("x", dist.Normal(jnp.zeros(int(n)), 1).to_event(1))
        numpyro.sample("y", dist.Normal(0, 1), obs=y)

    run = jaxis.mpis(model, K=3)
    for call in (run, jax.jit(run)):  # concrete data; data traced by the caller's jit
        with pytest.raises(ValueError, match=r"after site 'n'.*depends on a sampled value"):
            call(KEY, 0.5)


# ---- broadcast-unsafe model code -------------------------------------------------------

X = 0.5 * np.random.default_rng(0).normal(size=(6, 3))
Y = np.array([0.3, -0.8, 1.1, 0.4, -0.2, 0.9])


def regression(mean_fn, event: bool):
    """y ~ N(mean_fn(x, beta), 1) with beta ~ N(0, I): a vector latent, event or block."""
    def model(x, y):
        prior = dist.Normal(jnp.zeros(x.shape[1]), 1.0)
        beta = numpyro.sample("beta", prior.to_event(1) if event else prior)
        with numpyro.plate("n", x.shape[0]):
            numpyro.sample("y", dist.Normal(mean_fn(x, beta), 1.0), obs=y)
    return model


REGRESSION_LOG_Z = multivariate_normal(np.zeros(6), np.eye(6) + X @ X.T).logpdf(Y)
FIX = r"Write the model broadcast-safe"


@pytest.mark.parametrize("event", [True, False])
@pytest.mark.parametrize("K", [4, 3, 6])  # 3 = D and 6 = N: K equal to a data size
def test_jnp_dot_on_a_latent_names_the_site_and_the_rewrite(event, K):
    model = regression(lambda x, beta: jnp.dot(x, beta), event)
    with pytest.raises(ValueError, match=r"not broadcast-safe after site 'beta': TypeError: "
                                         rf"dot_general.*own leading axis.*{FIX}.*"
                                         r"\(x \* beta\)\.sum\(-1\)") as info:
        jaxis.mpis(model, K=K)(KEY, X, Y)
    assert isinstance(info.value.__cause__, TypeError)


@pytest.mark.parametrize("event, mean_fn", [
    (True, lambda x, beta: (x * beta).sum(-1)),
    (False, lambda x, beta: (x @ beta[..., None])[..., 0]),
])
def test_the_broadcast_safe_regression_gives_the_exact_evidence(event, mean_fn):
    run = jaxis.mpis(regression(mean_fn, event), K=50)
    assert_unbiased(run, REGRESSION_LOG_Z, X, Y)


MIX_Y = np.array([-1.2, 0.4, 1.5])
MIX_W = np.array([0.3, 0.7])


def mixture(index):
    """Two-component mixture with latent locations; ``index(loc, z)`` picks z's location."""
    def model(y):
        loc = numpyro.sample("loc", dist.Normal(jnp.zeros(2), 2.0).to_event(1))
        with numpyro.plate("n", y.shape[0]):
            z = numpyro.sample("z", dist.Categorical(jnp.asarray(MIX_W)))
            numpyro.sample("y", dist.Normal(index(loc, z), 1.0), obs=y)
    return model


def mixture_log_z() -> float:
    """Gauss-Hermite quadrature over the two locations (prior N(0, 2^2) each)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    loc = 2.0 * nodes  # E over N(0, 2^2) = sum w f(2 t) / sqrt(2 pi)
    w = weights / math.sqrt(2 * math.pi)
    a, b = np.meshgrid(loc, loc, indexing="ij")
    lik = np.ones_like(a)
    for y in MIX_Y:
        lik *= MIX_W[0] * norm.pdf(y, a, 1.0) + MIX_W[1] * norm.pdf(y, b, 1.0)
    return float(np.log(np.einsum("i,j,ij->", w, w, lik)))


@pytest.mark.parametrize("K", [4, 2, 3])  # 2 components, 3 data points
def test_indexing_latents_with_a_sampled_index_names_the_site_and_vindex(K):
    with pytest.raises(ValueError, match=r"not broadcast-safe at site 'y'.*"
                                         r"Vindex\(loc\)\[\.\.\., z\]") as info:
        jaxis.mpis(mixture(lambda loc, z: loc[z]), K=K)(KEY, MIX_Y)
    assert info.value.__cause__ is not None


def test_vindex_mixture_gives_the_exact_evidence():
    run = jaxis.mpis(mixture(lambda loc, z: Vindex(loc)[..., z]), K=20)
    assert_unbiased(run, mixture_log_z(), MIX_Y)


RESHAPE_Y = np.array([0.7, -1.3])


def pairs(reshape):
    """y = (w1 + w2, w3 + w4) + noise, the pairs read by reshaping a latent of size 4."""
    def model(y):
        w = numpyro.sample("w", dist.Normal(jnp.zeros(4), 1.0).to_event(1))
        numpyro.sample("y", dist.Normal(reshape(w).sum(-1), 1.0).to_event(1), obs=y)
    return model


@pytest.mark.parametrize("K", [3, 4, 2])  # 4 = size of w, 2 = size of y
def test_reshaping_a_latent_names_the_site_and_the_rewrite(K):
    with pytest.raises(ValueError, match=r"not broadcast-safe after site 'w'.*reshape.*"
                                         r"w\.reshape\(w\.shape\[:-1\] \+ \(2, 2\)\)"):
        jaxis.mpis(pairs(lambda w: w.reshape(2, 2)), K=K)(KEY, RESHAPE_Y)


def test_reshaping_the_trailing_dims_gives_the_exact_evidence():
    run = jaxis.mpis(pairs(lambda w: w.reshape(w.shape[:-1] + (2, 2))), K=50)
    # y ~ N(0, A A^T + I) with A = [[1, 1, 0, 0], [0, 0, 1, 1]]: N(0, 3 I)
    assert_unbiased(run, float(norm.logpdf(RESHAPE_Y, 0.0, math.sqrt(3.0)).sum()), RESHAPE_Y)


def test_shapes_that_change_at_the_run_s_K_are_caught_by_the_real_run():
    """Code branching on the sample count passes the structure pass (its own counts) and
    breaks at K equal to a data size: the real run checks its shapes against the pass."""
    def model(y):
        b = numpyro.sample("b", dist.Normal(0, 1))
        with numpyro.plate("n", y.shape[0]):
            loc = b[..., None] if jnp.shape(b)[:1] == y.shape else b  # shape arithmetic on K
            numpyro.sample("y", dist.Normal(loc, 1), obs=y)

    y = np.array([0.1, -0.4, 0.8])
    assert np.isfinite(jaxis.log_evidence(jaxis.mpis(model, K=4)(KEY, y)))
    with pytest.raises(ValueError, match=r"Site 'y' has batch shape \(3, 1, 3\) with K=3 .*"
                                         r"not broadcast-safe"):
        jaxis.mpis(model, K=3)(KEY, y)
