"""``assistant bench [--json] [--models demo,synthetic-1b] [--quick]``: llama.cpp through the app,
raw llama.cpp and transformers, on the demo model and a 1B-size model (``assistant.ops.bench``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

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
    remote = bench.add_argument_group("a model server instead (one, three and eight staff at once)")
    remote.add_argument("--remote", default=None, metavar="URL", help="an OpenAI-compatible server, e.g. http://10.0.0.5:8000/v1")
    remote.add_argument("--remote-model", default="demo", help="the model's name on that server")
    remote.add_argument("--remote-kind", default="openai", choices=("openai", "ollama"), help="its API (default openai)")
    remote.add_argument("--remote-key-file", default=None, type=Path, help="a file holding the server's key")
    remote.add_argument("--remote-llamacpp", action="store_true",
                        help="start llama.cpp's server on the demo model here first, and measure it")
    remote.add_argument("--llama-server", default=None, metavar="BIN",
                        help="with --remote-llamacpp: the C++ llama-server to run (-np 8), else llama-cpp-python's")
    remote.add_argument("--staff", default="1,3,8", help="staff at once (default 1,3,8)")
    speech = bench.add_argument_group("dictation")
    speech.add_argument("--speech", action="store_true", help="the speech model on spoken clinical passages")
    speech.add_argument("--speech-model", default=None, type=Path, metavar="DIR",
                        help="a Whisper model in CTranslate2 format (default: the built-in one)")
    bench.add_argument("--child", default=None, help=argparse.SUPPRESS)  # one engine, started by the benchmark


def run(config: Config, args: argparse.Namespace) -> int:
    if args.child:
        from assistant.ops.bench.engines import measure

        say(json.dumps(measure(json.loads(args.child), config)))
        return 0
    if args.remote or args.remote_llamacpp:
        return _remote(config, args)
    if args.speech:
        from assistant.ops.bench import machine
        from assistant.ops.bench.speech import measure_speech, render_speech

        report = measure_speech(config, args.speech_model, progress=(lambda text: None) if args.json else say)
        report["machine"] = machine()
        say(json.dumps(report, indent=2) if args.json else render_speech(report))
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


def _remote(config: Config, args: argparse.Namespace) -> int:
    from assistant.cli.serve import read_key
    from assistant.ops.bench import machine
    from assistant.ops.bench.remote import free_port, measure_remote, render_remote, start_llamacpp, wait_until_up
    from assistant.store.endpoint import Endpoint

    staff = tuple(int(n) for n in args.staff.split(",") if n.strip())
    server = None
    url = args.remote
    if args.remote_llamacpp:
        from assistant.engine import demo_model

        port = free_port()
        server = start_llamacpp(demo_model.find_demo_gguf(), port, binary=args.llama_server, parallel=max(staff))
        url = f"http://127.0.0.1:{port}/v1"
    try:
        if server is not None:
            wait_until_up(url)
        endpoint = Endpoint(kind=args.remote_kind, url=url, model=args.remote_model).check()
        key = read_key(args.remote_key_file) if args.remote_key_file else None
        report = measure_remote(config, endpoint, key, staff=staff, tokens=max(2, args.tokens),
                                progress=(lambda text: None) if args.json else say)
        report["machine"] = machine()
        report["server_program"] = (args.llama_server and f"llama-server -np {max(staff)}") or (
            "python -m llama_cpp.server" if server is not None else "given")
    finally:
        if server is not None:
            server.kill()
            server.wait(10)
    say(json.dumps(report, indent=2) if args.json else render_remote(report))
    return 0
