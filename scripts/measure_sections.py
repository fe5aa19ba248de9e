"""Measure whether section-by-section drafting reduces grounding flags.

For the example of every shipped progress-note preset, draft the note with the
demo model twice — whole, and one section at a time — through the real engine,
then run the same check the app runs. Greedy decoding, so runs repeat.

    .venv/bin/python scripts/measure_sections.py [--engine llamacpp|transformers] [--model DIR]
                                                 [--max-new-tokens N] [--json]

``--engine llamacpp`` (the default, the engine of a computer without an NVIDIA GPU) runs the demo
model's own GGUF file; ``transformers`` runs the converted folder at ``--model``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.security.privacy import lockdown  # noqa: E402

lockdown()

from assistant.app.drafting import draft_by_sections  # noqa: E402
from assistant.checks import check_draft  # noqa: E402
from assistant.core.documents.notes import NoteRequest, note_messages, resolve_format  # noqa: E402
from assistant.engine.engine import Engine  # noqa: E402
from assistant.store.presets import load_presets, shipped_dir  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=str(Path(__file__).resolve().parent.parent / "tests" / ".cache" / "demo-smollm2-135m-instruct"))
    parser.add_argument("--engine", choices=("llamacpp", "transformers"), default="llamacpp")
    parser.add_argument("--max-new-tokens", type=int, default=320)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.engine == "llamacpp":
        from assistant.engine.demo_model import find_demo_gguf
        from assistant.engine.llamacpp.backend import LlamaCppBackend

        engine = Engine(LlamaCppBackend.load(find_demo_gguf(), is_demo=True))
    else:
        from assistant.engine.hf import TransformersBackend

        engine = Engine(TransformersBackend.load(Path(args.model), is_demo=True))
    rows = []
    for preset in sorted(load_presets([shipped_dir()]).of_kind("progress_note"), key=lambda p: p.id):
        ex = preset.example
        request = NoteRequest(ex.get("description", ""), ex.get("note_format", "SOAP"),
                              ex.get("discipline", "Behavioral health"), preset.id, ex.get("goals", ""), ex.get("measures", ""))
        fmt, _ = resolve_format(preset, request)
        sections = preset.required_sections(fmt)
        fields = {"session_description": request.description, "goals": request.goals, "measures": request.measures}
        settings = replace(preset.settings(), temperature=0.0, max_new_tokens=args.max_new_tokens)
        row = {"preset": preset.id, "sections": len(sections)}
        for mode in ("whole", "by_sections"):
            start = time.perf_counter()
            if mode == "whole":
                text = "".join(engine.stream(note_messages(preset, request), settings))
            else:
                text = "".join(draft_by_sections(engine, preset, request, settings))
            result = check_draft("note", fields, text, sections)
            row[mode] = {"flags": len(result.flags), "missing_sections": len(result.missing_sections),
                         "chars": len(text), "seconds": round(time.perf_counter() - start, 1)}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    total = {mode: {k: sum(r[mode][k] for r in rows) for k in ("flags", "missing_sections", "chars", "seconds")}
             for mode in ("whole", "by_sections")}
    report = {"presets": rows, "total": total, "max_new_tokens": args.max_new_tokens, "engine": args.engine}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{'preset':28} {'whole: flags/missing':>22} {'by sections: flags/missing':>28}")
        for r in rows:
            print(f"{r['preset']:28} {r['whole']['flags']:>14}/{r['whole']['missing_sections']:<7} "
                  f"{r['by_sections']['flags']:>19}/{r['by_sections']['missing_sections']:<8}")
        print(f"{'total':28} {total['whole']['flags']:>14}/{total['whole']['missing_sections']:<7} "
              f"{total['by_sections']['flags']:>19}/{total['by_sections']['missing_sections']:<8}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
