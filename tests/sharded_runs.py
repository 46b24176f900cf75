"""Sharded and one-device MP runs on 8 virtual CPU devices, saved for tests/test_sharding.py.

Run as ``python -m tests.sharded_runs OUT_DIR`` with
``XLA_FLAGS=--xla_force_host_platform_device_count=8`` set before JAX starts (the flag is
read once, so the test runs this in a subprocess). ``wide`` and ``wide_data`` are also
the model of ``benchmarks/bench_sharding.py``. float64, as the rest of the suite, so
that "equal" can mean equal to float64 rounding. Writes ``OUT_DIR/results.npz`` (every
query of both runs of each case; the MP bound with and without the mesh) and ``OUT_DIR/facts.json`` (shardings of the outputs,
collectives in the compiled code, the messages of the misfits).
"""
import functools
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

import jaxis
from jaxis.datasets import synthetic_chimpanzees
from jaxis.models import chimpanzees as cm

GROUPS, PER_GROUP = 800, 125  # N = 10^5 observations


def wide(x, y):
    """A wide plate: N = GROUPS * PER_GROUP observations with a covariate, a latent per group."""
    beta = numpyro.sample("beta", dist.Normal(0.0, 1.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    with numpyro.plate("groups", x.shape[0], dim=-2):
        theta = numpyro.sample("theta", dist.Normal(0.0, 1.0))
        with numpyro.plate("obs", x.shape[1], dim=-1):
            numpyro.sample("y", dist.Normal(theta + beta * x, sigma), obs=y)


def wide_data():
    kx, ky = jax.random.split(jax.random.PRNGKey(5))
    x = jax.random.normal(kx, (GROUPS, PER_GROUP))
    theta = jnp.linspace(-1.0, 1.0, GROUPS)[:, None]
    return x, theta + 0.5 * x + 0.8 * jax.random.normal(ky, (GROUPS, PER_GROUP))


@functools.partial(jax.jit, static_argnums=(1, 2))
def queries(mpt, first: str, every: bool) -> dict:
    """log Z and marginals (``every``: also a moment and posterior draws), as one program."""
    out = {"log_z": jaxis.log_evidence(mpt)}
    out.update({f"marginal_{k}": v for k, v in jaxis.marginals(mpt).items()})
    if every:
        out["moments"] = jaxis.moments(mpt, {first: lambda v: v})[first]
        draws = jaxis.sample_posterior(jax.random.PRNGKey(2), mpt, 20)
        out.update({f"draw_{k}": v for k, v in draws.items()})
    return out


def compare(name, model, guide, K, args, mesh, facts, results, every=True):
    """Both runs with the same key; ``every=False``: log Z and marginals only, and no
    memory check (its compilations are the slow part of the chimpanzee model)."""
    key = jax.random.PRNGKey(0)
    one = jaxis.mpis(model, guide, K=K, check_memory=every)(key, *args)
    split = jaxis.mpis(model, guide, K=K, mesh=mesh, check_memory=every)(key, *args)
    first = split.graph.latents[0].name
    for tag, mpt in (("one", one), ("split", split)):
        for k, v in queries(mpt, first, every).items():
            results[f"{name}/{tag}/{k}"] = np.asarray(v)
    log_ev = jax.jit(jaxis.log_evidence).lower(split).compile().as_text()
    facts[name] = {
        "log_factor_specs": [str(x.sharding.spec) if hasattr(x.sharding, "spec") else None
                             for x in split.log_factors],
        "log_factor_plates": [list(f.plates) for f in split.graph.factors],
        "log_factor_devices": [len(x.sharding.device_set) for x in split.log_factors],
        "shard_shapes": [list(x.addressable_shards[0].data.shape) for x in split.log_factors],
        "shapes": [list(x.shape) for x in split.log_factors],
        "log_evidence_all_reduce": "all-reduce" in log_ev,
    }


def learning(mesh, results) -> None:
    """The MP bound's value and gradient, one device and split."""
    from jaxis.models import gaussian_hierarchy as gh

    y = jax.random.normal(jax.random.PRNGKey(3), (8, 3)) + 1.0  # 8 groups
    key = jax.random.PRNGKey(0)
    for tag, m in (("one", None), ("split", mesh)):
        bound = jax.jit(jax.value_and_grad(lambda p: jaxis.MPELBO(K=4, mesh=m).loss(
            key, p, gh.model, gh.guide, y)))
        loss, grad = bound({"loc": 0.3})
        results[f"learning/{tag}/mpelbo_loss"] = np.asarray(loss)
        results[f"learning/{tag}/mpelbo_grad"] = np.asarray(grad["loc"])


def misfit(model, K, args, mesh, shard_plate=None) -> str:
    try:
        jaxis.mpis(model, K=K, mesh=mesh, shard_plate=shard_plate, check_memory=False)(
            jax.random.PRNGKey(0), *args)
    except ValueError as e:
        return str(e)
    return ""


def main(out_dir: str) -> None:
    jax.config.update("jax_enable_x64", True)
    devices = jax.devices()
    assert len(devices) == 8, devices
    facts, results = {"devices": len(devices)}, {}
    eight = jax.make_mesh((8,), ("data",))
    x, y = wide_data()
    compare("wide", wide, None, 4, (x, y), eight, facts, results)

    t = synthetic_chimpanzees(jax.random.PRNGKey(1)).train
    chimp = (t["condition"], t["prosoc_left"], t["obs"])
    grid = jax.make_mesh((2, 3), ("a", "b"), devices=devices[:6])  # blocks: 6
    compare("chimpanzees", cm.model, cm.guide, 3, chimp, grid, facts, results, every=False)

    learning(eight, results)
    facts["misfits"] = {
        "no_plate_divides": misfit(cm.model, 3, chimp, eight),
        "not_a_plate": misfit(cm.model, 3, chimp, grid, "trials"),
        "not_divisible": misfit(cm.model, 3, chimp, eight, "actors"),
    }
    np.savez(f"{out_dir}/results.npz", **results)
    with open(f"{out_dir}/facts.json", "w") as f:
        json.dump(facts, f)


if __name__ == "__main__":
    main(sys.argv[1])
