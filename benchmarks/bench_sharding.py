"""Benchmark: one MP run on 8 virtual CPU devices (``mpis(mesh=...)``) against 1 device.

The wide-plate model of ``tests/sharded_runs.py``: a covariate slope and a noise scale,
800 groups with a latent each, 125 observations per group (N = 10^5), float32. Per K:
compile seconds and median warm seconds of the run, ``log_evidence`` and ``marginals``,
unsharded and with the groups plate split over an 8-device mesh, and the relative
difference of the two log Z values (float rounding only).

The 8 devices are virtual (``--xla_force_host_platform_device_count=8``): they share this
machine's CPU cores, so the numbers show the overhead of partitioned execution, not a
speed-up; on 8 real accelerators each device would hold and evaluate 1/8 of the plate.
On an accelerator machine the mesh takes all its devices (the virtual CPU devices are then
unused); it needs at least 2. Run: ``python benchmarks/bench_sharding.py [K ...] [--json F]``
(default K = 4 8 12).
"""
from __future__ import annotations

import json
import os
import sys

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_force_host_platform_device_count=8").strip()

from _common import time_call  # noqa: E402  (puts the repository root on sys.path)


def bench(K: int, repeats: int = 5) -> list:
    import jax

    import jaxis
    from tests.sharded_runs import wide, wide_data

    x, y = wide_data()
    key = jax.random.PRNGKey(0)
    rows, values = [], {}
    n = jax.device_count()  # 8 virtual CPU devices, or the accelerators present
    many = f"{n} devices"
    for label, mesh in (("1 device", None), (many, jax.make_mesh((n,), ("data",)))):
        run = jaxis.mpis(wide, K=K, mesh=mesh)
        t_run, c_run = time_call(run, key, x, y, repeats=repeats)
        mpt = run(key, x, y)
        t_ev, c_ev = time_call(jaxis.log_evidence, mpt, repeats=repeats)
        t_mg, c_mg = time_call(jaxis.marginals, mpt, repeats=repeats)
        values[label] = float(jaxis.log_evidence(mpt))
        rows.append((K, label, t_run, c_run, t_ev, c_ev, t_mg, c_mg))
    diff = abs(values[many] - values["1 device"]) / abs(values["1 device"])
    return rows, diff


def main(Ks, json_path: str = "") -> None:
    import jax

    n = jax.device_count()
    if n < 2 or 800 % n:
        raise SystemExit(f"bench_sharding needs 2 or more devices dividing the 800 groups; "
                         f"{jax.default_backend()} has {n}")
    print(f"jax {jax.__version__}, {n} {jax.default_backend()} devices on "
          f"{os.cpu_count()} cores; seconds: warm median (compile)")
    print("| K | devices | run | log_evidence | marginals | log Z rel. diff |")
    print("|--:|---|--:|--:|--:|--:|")
    out = []
    for K in Ks:
        rows, diff = bench(K)
        out += [dict(zip(("K", "devices", "run", "run_compile", "log_evidence",
                          "log_evidence_compile", "marginals", "marginals_compile"), r),
                     log_z_rel_diff=diff) for r in rows]
        if json_path:
            with open(json_path, "w") as f:
                json.dump(out, f, indent=1)
        for K_, label, t_run, c_run, t_ev, c_ev, t_mg, c_mg in rows:
            print(f"| {K_} | {label} | {t_run:.3f} ({c_run:.1f}) | {t_ev:.3f} ({c_ev:.1f}) "
                  f"| {t_mg:.3f} ({c_mg:.1f}) | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    path = args.pop(args.index("--json") + 1) if "--json" in args else ""
    main([int(k) for k in args if k != "--json"] or [4, 8, 12], path)
