"""The memory guard bounds what a run actually allocates, and names the largest K that fits.

Peak allocation is measured in a fresh process: the kernel's resident-memory high-water
mark is reset (``/proc/self/clear_refs``) after compilation, then the run and its
log-evidence contraction execute for the first time (a second call would reuse memory the
allocator kept), and the growth of the high-water mark over the resident size before is
the measured peak. The estimate must be at least that, on models where
arrays the old contraction-only estimate did not count dominate: a log density before its
plate sum, proposal mixtures, and a big latent-free data plate.
"""
import json
import os
import re
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
import pytest

import jaxis
from jaxis._memory import RUNTIME_ALLOWANCE

KEY = jax.random.PRNGKey(0)

_MEASURE = textwrap.dedent('''
    import json, sys
    import jax, jax.numpy as jnp, numpyro, numpyro.distributions as dist
    import jaxis
    from jaxis._mpis import mp_peak

    def status():
        out = {}
        for line in open("/proc/self/status"):
            if line.startswith(("VmRSS", "VmHWM")):
                k, v = line.split(":")
                out[k] = int(v.split()[0]) * 1024
        return out

    def global_parent(y):   # the theta factor (K, K, 4) and its K x K x 4 proposal mixture
        mu = numpyro.sample("mu", dist.Normal(0, 1))
        with numpyro.plate("p", 4):
            theta = numpyro.sample("theta", dist.Normal(mu, 1))
            numpyro.sample("y", dist.Normal(theta, 1), obs=y)

    def data_plate(y):      # log p over (K, K, N) before its plate sum
        a = numpyro.sample("a", dist.Normal(0, 1))
        b = numpyro.sample("b", dist.HalfNormal(1))
        # the mask's select keeps log p materialised (unmasked, XLA fuses it into the sum)
        with numpyro.plate("n", y.shape[0]), numpyro.handlers.mask(mask=y > -2.0):
            numpyro.sample("y", dist.Normal(a, b), obs=y)

    def two_parents(y):     # a child of two parents: mixture over paired tuples
        a = numpyro.sample("a", dist.Normal(0, 1))
        b = numpyro.sample("b", dist.HalfNormal(1))
        with numpyro.plate("p", y.shape[0]):
            c = numpyro.sample("c", dist.Normal(a, b))
            numpyro.sample("y", dist.Normal(c, 1), obs=y)

    name, K, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    model = {"global_parent": global_parent, "data_plate": data_plate,
             "two_parents": two_parents}[name]
    y = jnp.linspace(-1.0, 1.0, n)
    # dedup_rows=False: data_plate's y would be summed over n from statistics, with no
    # (K, K, N) log p; the plain path is the one whose peak is measured here
    run = jaxis.mpis(model, K=K, memory_budget=2**40, dedup_rows=False)
    low = run.lower(KEY := jax.random.PRNGKey(0), y)
    estimate = mp_peak(low)   # compiles the run and its contraction (shared with the calls)
    before = status()["VmRSS"]
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    lz = jaxis.log_evidence(run(jax.random.PRNGKey(1), y))
    lz.block_until_ready()
    print(json.dumps({"estimate": estimate, "measured": status()["VmHWM"] - before}))
''')


def _measure(name: str, K: int, n: int) -> dict:
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", _MEASURE, name, str(K), str(n)], env=env,
                         capture_output=True, text=True, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux procfs")
@pytest.mark.parametrize("name, K, n", [
    ("global_parent", 2500, 4),      # theta factor and mixture: 100 MB each
    ("global_parent", 5000, 4),      # 400 MB each (the 4-element plate)
    ("data_plate", 200, 2000),       # log p before the plate sum: 320 MB
    ("two_parents", 60, 300),        # child factor K^3 x 300 (260 MB), paired mixture K^2 x 300
])
def test_estimate_bounds_the_measured_peak(name, K, n):
    got = _measure(name, K, n)
    assert got["measured"] > 2 * RUNTIME_ALLOWANCE, got  # big enough to mean something
    assert got["measured"] <= got["estimate"], got


def three_latents(y):
    a = numpyro.sample("a", dist.Normal(0, 1))
    b = numpyro.sample("b", dist.Normal(0, 1))
    c = numpyro.sample("c", dist.Normal(0, 1))
    numpyro.sample("y", dist.Normal(a + b + c, 1), obs=y)


def three_plated(y):
    """``three_latents`` in a plate of one: no global latent to chunk along."""
    with numpyro.plate("p", 1):
        a = numpyro.sample("a", dist.Normal(0, 1))
        b = numpyro.sample("b", dist.Normal(0, 1))
        c = numpyro.sample("c", dist.Normal(0, 1))
        numpyro.sample("y", dist.Normal(a + b + c, 1), obs=y)


def _message(run) -> str:
    with pytest.raises(ValueError) as info:
        run(KEY, jnp.float32(1.0))
    return str(info.value)


def test_over_budget_names_the_largest_K_that_fits():
    """The run's y factor grows like K^3; 16 MiB above the allowance holds K ~ 128. With
    global latents the run is chunked instead (``tests/test_chunked.py``); in a plate
    there is nothing to chunk along, and the error names the largest K."""
    budget = RUNTIME_ALLOWANCE + 16 * 2**20
    msg = _message(jaxis.mpis(three_plated, K=300, memory_budget=budget))
    assert re.search(r"MP IS with K=300 needs about .* GiB .* Use K <= \d+", msg), msg
    fits = int(re.search(r"K <= (\d+)", msg).group(1))
    jaxis.mpis(three_plated, K=fits, memory_budget=budget)(KEY, jnp.float32(1.0))
    _message(jaxis.mpis(three_plated, K=fits + 1, memory_budget=budget))
    assert jaxis.mpis(three_latents, K=300, memory_budget=budget)(
        KEY, jnp.float32(1.0)).chunks == 300


def test_global_is_is_guarded_too():
    budget = RUNTIME_ALLOWANCE + 4 * 2**20
    run = jaxis.global_is(three_latents, K=10**7, memory_budget=budget)
    msg = _message(run)
    assert re.search(r"Global IS with K=10000000 needs about .* Use K <= \d+", msg), msg
    fits = int(re.search(r"K <= (\d+)", msg).group(1))
    jaxis.global_is(three_latents, K=fits, memory_budget=budget)(KEY, jnp.float32(1.0))


def test_guard_runs_under_an_outer_jit():
    budget = RUNTIME_ALLOWANCE + 16 * 2**20
    run = jaxis.mpis(three_plated, K=300, memory_budget=budget)
    with pytest.raises(ValueError, match="MP IS with K=300 needs about"):
        jax.jit(lambda k: jaxis.log_evidence(run(k, jnp.float32(1.0))))(KEY)
    chunked = jaxis.mpis(three_latents, K=300, memory_budget=budget)  # chunks instead
    lz = jax.jit(lambda k: jaxis.log_evidence(chunked(k, jnp.float32(1.0))))(KEY)
    assert jnp.allclose(lz, jaxis.log_evidence(chunked(KEY, jnp.float32(1.0))), rtol=1e-10)


@pytest.mark.parametrize("budget", [0, -5, 2.5, True])
def test_bad_budget(budget):
    with pytest.raises(ValueError, match="memory_budget must be a positive number of bytes"):
        jaxis.mpis(three_latents, K=2, memory_budget=budget)
