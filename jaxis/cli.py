"""The ``jaxis`` command line: ``jaxis run`` runs the built-in demo."""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="jaxis", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the built-in demo (MP IS vs global IS)")
    run.add_argument("--runs", type=int, default=20, help="repeated runs per row")
    args = parser.parse_args(argv)
    if args.command == "run":
        from .demo import demo

        demo(runs=args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
