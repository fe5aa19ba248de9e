"""``assistant bench [--model PATH] [--json]``: the engine against plain generate, same model."""

from __future__ import annotations

import argparse

from assistant.cli.output import say
from assistant.store.config import Config


def add(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="measure drafting speed: the engine against plain generate, same model")
    bench.add_argument("--model", default=None, help="folder of a model to measure (default: the one in use)")
    bench.add_argument("--json", action="store_true", help="print every figure as JSON")
    bench.add_argument("--repeats", type=int, default=3, help="runs of each kind of request (default 3)")
    bench.add_argument("--tokens", type=int, default=160, help="tokens a draft writes (default 160)")
    bench.add_argument("--no-serve", action="store_true", help="skip timing 'assistant serve' until its page answers")


def run(config: Config, args: argparse.Namespace) -> int:
    import json

    from assistant.ops.bench import render, run_bench

    report = run_bench(config, args.model, repeats=max(1, args.repeats), max_new_tokens=max(2, args.tokens),
                       serve=not args.no_serve, progress=(lambda text: None) if args.json else say)
    say(json.dumps(report, indent=2) if args.json else render(report))
    return 0
