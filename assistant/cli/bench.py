"""``assistant bench [--json] [--models demo,synthetic-1b] [--quick]``: llama.cpp through the app,
raw llama.cpp and transformers, on the demo model and a 1B-size model (``assistant.ops.bench``)."""

from __future__ import annotations

import argparse

from assistant.cli.output import say
from assistant.store.config import Config


def add(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="measure drafting speed: the app's llama.cpp engine against raw "
                                         "llama.cpp and transformers, on the demo model and a 1B-size model")
    bench.add_argument("--json", action="store_true", help="print every figure as JSON")
    bench.add_argument("--models", default="demo,synthetic-1b", help="models to measure (default demo,synthetic-1b)")
    bench.add_argument("--quick", action="store_true", help="a few tokens a request: a check that it runs")
    bench.add_argument("--repeats", type=int, default=2, help="measured notes per engine (default 2)")
    bench.add_argument("--tokens", type=int, default=128, help="tokens a measured request writes (default 128)")
    bench.add_argument("--cache", default=None, help="folder for the benchmark's models (default: in the data folder)")
    bench.add_argument("--no-serve", action="store_true", help="skip timing 'assistant serve' until its page answers")
    bench.add_argument("--child", default=None, help=argparse.SUPPRESS)  # one engine, started by the benchmark


def run(config: Config, args: argparse.Namespace) -> int:
    import json

    if args.child:
        from assistant.ops.bench.engines import measure

        say(json.dumps(measure(json.loads(args.child), config)))
        return 0
    from assistant.ops.bench import MODELS, render, run_bench

    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        say(f"Problem: unknown model {', '.join(unknown) or '(none)'}; choose from {', '.join(MODELS)}.")
        return 2
    report = run_bench(config, models=models, quick=args.quick, tokens=max(2, args.tokens),
                       repeats=max(1, args.repeats), serve=not args.no_serve, cache=args.cache,
                       progress=(lambda text: None) if args.json else say)
    say(json.dumps(report, indent=2) if args.json else render(report))
    return 0
