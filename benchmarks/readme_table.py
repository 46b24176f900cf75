"""Print the README's performance tables (markdown) from the JSON that ``benchmarks/gpu.sh`` writes.

The JSON holds the device (``jax.devices()``), the load average, and each benchmark's own
``--json`` output under ``benchmarks``: ``mpis_chimpanzees`` (rows of
``bench_mpis_chimpanzees.py``: the README's main performance table), ``nuts_chimpanzees``
(``bench_nuts_chimpanzees.py``: time to accuracy against NUTS), ``memory_budget`` and
``sharding``. A benchmark that failed or was skipped is named with its status.

Run: ``python benchmarks/readme_table.py benchmarks/results/<platform>.json``.
"""
from __future__ import annotations

import json
import sys
from typing import Optional

ALAN = {10: (0.66, 1.03, 2.4), 15: (6.1, 15.0, 9.8)}  # paper's PyTorch library, 2-core CPU


def _f(x: Optional[float], digits: int = 3) -> str:
    if x is None:
        return "-"
    return f"{x:.{digits}f}" if x < 100 else f"{x:.0f}"


def mpis_table(rows: list, cpu: bool) -> list[str]:
    """The README's 'Performance' table; peak GB is the device's peak off CPU."""
    out = ["| K | numpyro floor | plain floor | bespoke | log_evidence | / plain | marginals "
           "| / plain | 100 draws | / plain | peak GB | alan ELBO | alan moments | alan GB |",
           "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        alan = ALAN.get(r["K"]) if cpu else None
        gb = r["rss_gb"] if cpu or r.get("device_peak_gb") is None else r["device_peak_gb"]
        draws = r.get("draws")  # absent from results written before the column existed
        ratio = "-" if draws is None else f"{draws / r['plain']:.2f}"
        out.append(f"| {r['K']} | {_f(r['floor'])} | {_f(r['plain'])} | {_f(r['bespoke'])} "
                   f"| {_f(r['elbo'])} | {r['elbo'] / r['plain']:.2f} | {_f(r['marginals'])} "
                   f"| {r['marginals'] / r['plain']:.2f} | {_f(draws)} | {ratio} | {gb:.2f} | "
                   + (" | ".join(f"{a}" for a in alan) if alan else "- | - | -") + " |")
    return out


def nuts_table(res: dict) -> list[str]:
    ref = res["reference"]
    out = [f"Reference: NUTS {ref['chains']} x {ref['samples']} draws ({ref['warmup']} warmup), "
           f"R-hat max {ref['rhat_max']:.4f}, ESS min {ref['ess_min']:.0f}, metric noise "
           f"{ref['noise_floor']:.3f}.", "",
           "| K | MP IS error | MP IS CPU s: warm (first call) | NUTS n to match | NUTS error "
           "| NUTS CPU s: warm (first MCMC.run) | NUTS / MP IS CPU s: warm, first "
           "| NUTS / MP IS wall s, warm |",
           "|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for t in res["time_to_accuracy"]:
        head = (f"| {t['K']} | {t['mpis_error']:.2f} | {_f(t['mpis_cpu_seconds'])} "
                f"({_f(t['mpis_cold_cpu_seconds'], 1)}) ")
        if t["nuts_n"] is None:
            out.append(head + "| none of the budgets | - | - | - | - |")
        else:
            out.append(head + f"| {t['nuts_n']} | {t['nuts_error']:.2f} | "
                       f"{_f(t['nuts_cpu_seconds'])} ({_f(t['nuts_cold_cpu_seconds'], 1)}) | "
                       f"{t['ratio_cpu']:.2g}, {t['ratio_cold_cpu']:.2g} | "
                       f"{t['ratio_warm']:.2g} |")
    out += ["", "| method | error (mean ± se) | globals | intercepts | warm s | warm CPU s "
            "| first CPU s | MCMC.run again CPU s | divergent |",
            "|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in res["mpis"] + res["nuts"]:
        nuts = r["method"] == "nuts"
        name = f"NUTS n={r['n']}" if nuts else f"MP IS K={r['K']}"
        first = r["mcmc_first_cpu_seconds"] if nuts else r["cold_cpu_seconds"]
        again = _f(r["mcmc_again_cpu_seconds"], 2) if nuts else "-"
        div = f"{100 * r['divergent_fraction']:.1f}%" if nuts else "-"
        out.append(f"| {name} | {r['error_mean']:.3f} ± {r['error_se']:.3f} | "
                   f"{r['error_globals']:.3f} | {r['error_locals']:.3f} | {_f(r['seconds'])} | "
                   f"{_f(r['cpu_seconds'])} | {_f(first, 2)} | {again} | {div} |")
    return out


def memory_table(r: dict) -> list[str]:
    return ["| K | budget GB | chunks | run s | log_evidence s | marginals s | peak RSS GB "
            "| device peak GB | chunked vs unchunked log Z (K) |",
            "|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
            f"| {r['K']} | {r['memory_budget'] / 1e9:.2f} | {r['chunks']} | {_f(r['run_s'], 1)} "
            f"| {_f(r['log_evidence_s'], 1)} | {_f(r['marginals_s'], 1)} | {r['rss_gb']:.2f} "
            f"| {_f(r.get('device_peak_gb'), 2)} "
            f"| {r['compare_log_z_rel_diff']:.1e} ({r['compare_K']}) |"]


def sharding_table(rows: list) -> list[str]:
    out = ["| K | devices | run | log_evidence | marginals | log Z rel. diff |",
           "|--:|---|--:|--:|--:|--:|"]
    for r in rows:
        out.append(f"| {r['K']} | {r['devices']} | {r['run']:.3f} ({r['run_compile']:.1f}) | "
                   f"{r['log_evidence']:.3f} ({r['log_evidence_compile']:.1f}) | "
                   f"{r['marginals']:.3f} ({r['marginals_compile']:.1f}) | "
                   f"{r['log_z_rel_diff']:.1e} |")
    return out


def render(doc: dict) -> str:
    cpu = doc["platform"] == "cpu"
    lines = [f"Platform {doc['platform']}: {', '.join(doc['devices'])} (jax {doc['jax']}); "
             f"load average at start {doc['load_average_start']}, at end "
             f"{doc['load_average_end']}; {'quick' if doc['quick'] else 'full'} run of "
             f"{doc['seconds']:.0f} s."]
    tables = {"mpis_chimpanzees": ("Performance (chimpanzees, float32, seconds)",
                                   lambda r: mpis_table(r, cpu)),
              "nuts_chimpanzees": ("Time to accuracy against NUTS (chimpanzees)", nuts_table),
              "memory_budget": ("Memory budget", memory_table),
              "sharding": ("Sharding (seconds: warm median (compile))", sharding_table)}
    for name, (title, fn) in tables.items():
        b = doc["benchmarks"].get(name)
        lines += ["", f"#### {title}", ""]
        if b is None or b.get("result") is None:
            why = "not run" if b is None else f"{b['status']} (exit {b['rc']})"
            lines.append(f"`{name}`: {why}")
        else:
            lines += fn(b["result"])
            lines.append(f"\n`{' '.join(b['command'])}`: {b['seconds']:.0f} s")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        print(render(json.load(f)))
