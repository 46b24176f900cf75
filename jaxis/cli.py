"""The ``jaxis`` command line.

    jaxis run                                  # the built-in demo (DEFAULT_CONFIG), < 1 min
    jaxis run configs/chimpanzees.yaml         # reproduce the paper's chimpanzee figures
    jaxis run configs/chimpanzees.yaml --set K=[5,10] --out results/chimp
    jaxis run configs/figure3_chimpanzees.yaml # learned proposals (the paper's Fig. 3)
    jaxis list                                 # models and shipped configs

``run`` prints a table and writes ``results.json``, ``config.yaml`` and PNG plots into a
new folder (the config's ``out_dir``, or ``--out``; never an existing one). Bad input
(a config error, a missing, unreadable or incomplete data file, a K too large for memory)
is one message on stderr and exit status 2, before the first run; so is a missing package
of the ``experiments`` extra (``pip install "jaxis[experiments]"``), which ``run`` needs and
``list`` does not. Ctrl-C stops cleanly
with exit status 130, saying which rows were complete; nothing is saved then (a results
folder appears complete or not at all). Compiled functions are kept in JAX's persistent compilation cache
(``$JAXIS_CACHE_DIR``, default ``~/.cache/jaxis/jax``; set it empty to turn the cache
off), so a repeated run skips most of its compile time.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path
from typing import NoReturn, Optional, Sequence

from ._extras import MissingExtraError, require_experiments
from .models import REGISTRY

_REPO_CONFIGS = Path(__file__).resolve().parents[1] / "configs"
INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), as shells report it."""


def shipped_configs() -> list[tuple[Path, str]]:
    """``(path, description)`` of every YAML in ``./configs`` (else the repository's); the
    description is the first sentence of the file's leading comment."""
    folder = Path("configs") if Path("configs").is_dir() else _REPO_CONFIGS
    found = []
    for path in sorted(folder.glob("*.yaml")):
        comment = []
        for line in path.read_text().splitlines():
            if not line.startswith("#"):
                break
            comment.append(line.lstrip("# ").strip())
        found.append((path, " ".join(comment).split(". ")[0].rstrip(".") + "."))
    return found


def _list() -> int:
    print("Models (jaxis.models):")
    width = max(len(name) for name in REGISTRY)
    for name, spec in REGISTRY.items():
        print(f"  {name:<{width}}  {spec.summary}")
    configs = shipped_configs()
    print("\nConfigs (jaxis run <path>):")
    if not configs:
        print("  none found: run from the repository root, where configs/ lives")
    width = max((len(str(p)) for p, _ in configs), default=0)
    for path, description in configs:
        print(f"  {str(path):<{width}}  {description}")
    return 0


def _use_compilation_cache() -> None:
    """Point JAX's persistent compilation cache at ``$JAXIS_CACHE_DIR`` (unless set already)."""
    import jax

    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "jaxis" / "jax"
    folder = os.environ.get("JAXIS_CACHE_DIR", str(default))
    if folder and not jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir", folder)


def _run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    require_experiments("jaxis run")
    from .config import load_config
    from .experiments import format_table, run_experiment, save_result

    start = time.perf_counter()
    cfg = load_config(args.config, args.overrides)
    _use_compilation_cache()
    result = run_experiment(
        cfg, progress=not args.no_progress, command=shlex.join(["jaxis", *argv])
    )
    try:
        folder = save_result(result, args.out)
    except KeyboardInterrupt:
        raise KeyboardInterrupt("interrupted while saving the results") from None
    print(format_table(result))
    print(f"\nWrote {folder}/ (results.json, config.yaml, plots) "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxis", description="Massively parallel importance sampling experiments."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run", help="run a config (default: the built-in demo, MP IS vs global IS)"
    )
    run.add_argument("config", nargs="?", help="a YAML config, e.g. configs/chimpanzees.yaml")
    run.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config key (YAML value, dotted keys), e.g. --set K=[5,10]",
    )
    run.add_argument("--out", help="output folder (default: the config's out_dir)")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    sub.add_parser("list", help="list the models and the shipped configs")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``jaxis`` script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    try:
        return _list() if args.command == "list" else _run(args, argv)
    except (ValueError, MissingExtraError) as error:
        print(f"jaxis: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        print(f"jaxis: {str(stop) or 'interrupted'}. Nothing was saved.", file=sys.stderr)
        return INTERRUPTED


def script() -> NoReturn:
    """The ``jaxis`` console script: ``sys.exit(main())``, except after Ctrl-C, where the
    process ends at once: XLA's compiler threads may still be running, and tearing the
    interpreter down under them can crash it (a segfault instead of exit status 130)."""
    status = main()
    if status == INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":
    script()
