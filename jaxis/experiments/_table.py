"""The printed summary of a run: one line per (method, K), means ± standard errors.

Columns: method, K, ELBO, predictive log-likelihood (when there is held-out data), the
posterior means of up to :data:`MAX_MEANS` scalar global latents, ESS, warm milliseconds
per run, compile seconds and peak resident memory.
"""
from __future__ import annotations

import math

from ._measure import Row, mean_se
from ._runner import ExperimentResult

MAX_MEANS = 3
"""Posterior means shown per row (all of them are in ``results.json``)."""


def _pm(values, digits: int) -> str:
    mean, se = mean_se(values)
    se_text = f"{se:.{digits}f}" if math.isfinite(se) else "n/a"
    return f"{mean:.{digits}f} ± {se_text}"


def _cells(row: Row, result: ExperimentResult) -> list[str]:
    cells = [row.label, str(row.K), _pm(row.elbo, 2)]
    if result.data.all is not None:
        cells.append(_pm(row.predictive_ll, 2))
    means = row.posterior_means
    cells += [f"{means[s].mean():.3f}" for s in result.data.scalar_globals[:MAX_MEANS]]
    cells += [
        f"{row.ess.mean():.1f}",
        f"{1e3 * row.time_s.mean():.2f}",
        f"{row.compile_s:.1f}",
        f"{row.peak_rss_mb:.0f}",
    ]
    return cells


def _header(result: ExperimentResult) -> list[str]:
    header = ["method", "K", "ELBO"]
    if result.data.all is not None:
        header.append("pred. LL")
    header += [f"E[{s}]" for s in result.data.scalar_globals[:MAX_MEANS]]
    return header + ["ESS", "ms/run", "compile s", "peak MB"]


def _preamble(result: ExperimentResult) -> list[str]:
    cfg = result.config
    runs = f"{cfg.num_runs} runs per row (mean ± s.e.)"
    if result.data.all is not None:
        runs += f", {cfg.num_posterior_samples} posterior samples for the predictive LL"
    lines = [f"{cfg.model}: {result.data.description}", runs]
    if result.data.exact_log_evidence is not None:
        lines.append(f"exact log evidence: {result.data.exact_log_evidence:.3f}")
    paper = result.paper_elbo
    if paper is not None:
        lines.append(f"published MP IS ELBO at K={paper.K}: {paper.elbo} ± {paper.standard_error}")
    return lines


def _aligned(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                      enumerate(zip(r, widths))) for r in rows]


def _learning_lines(result: ExperimentResult) -> list[str]:
    """Per (method, lr): first and final ELBO and predictive LL, time per iteration; then
    one-shot MP IS with each final proposal at each ``final_K``."""
    learning, has_pll = result.config.learning, result.data.all is not None
    header = ["method", "lr", "ELBO it 0", f"ELBO it {learning.num_iterations}"]
    header += ["pred. LL it 0", "pred. LL final"] if has_pll else []
    rows = [header + ["ms/it/run", "compile s"]]
    for row in result.learning:
        cells = [row.label, f"{row.lr:g}", _pm(row.elbo[:, 0], 2), _pm(row.elbo[:, -1], 2)]
        if has_pll:
            cells += [_pm(row.predictive_ll[:, 0], 2), _pm(row.predictive_ll[:, -1], 2)]
        rows.append(cells + [f"{1e3 * row.time_per_iteration_s:.2f}", f"{row.compile_s:.1f}"])
    lines = ["", f"Learned proposals (K={learning.K}, {learning.num_iterations} iterations, "
             f"{result.config.num_runs} runs; ELBO: the MP bound log P-hat at K={learning.K})",
             *_aligned(rows)]
    if learning.final_K:
        final = [["one-shot MP IS with", "K", "ELBO"] + (["pred. LL"] if has_pll else [])
                 + ["ESS"]]
        for row in result.learning:
            for K, v in row.final.items():
                final.append([f"{row.label} proposal", str(K), _pm(v["elbo"], 2)]
                             + ([_pm(v["predictive_ll"], 2)] if has_pll else [])
                             + [f"{v['ess'].mean():.1f}"])
        lines += ["", *_aligned(final)]
    return lines


def format_table(result: ExperimentResult) -> str:
    """A plain-text table of ``result`` with a short preamble (what was run, on what)."""
    rows = [_header(result)] + [_cells(row, result) for row in result.rows]
    learning = _learning_lines(result) if result.learning else []
    return "\n".join(_preamble(result) + [""] + _aligned(rows) + learning)
