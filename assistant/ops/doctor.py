"""The hardware check: what this computer has, and what it can run, in plain words.

``gather`` asks the real backend (lazily: torch is imported only here, on
demand) what torch sees, adds RAM, processor and the installed models, and
``verdict`` turns that into one sentence and a recommended model size. The
report is plain data: ``assistant doctor --json`` prints it for vendors, the
System tab and ``assistant doctor`` show ``render_text``.

Nothing here is clinical; the report holds hardware, versions and model names.
"""

from __future__ import annotations

import logging
import os
import platform
from typing import Any

from assistant import __version__
from assistant.store.config import Config

log = logging.getLogger(__name__)

GB = 1024**3

# (GPU memory in GB at least, model size, examples): 4-bit NF4 needs about 0.55 GB per
# billion parameters plus room for the reading window and the library.
GPU_TIERS = [
    (10.0, "8B", "Llama 3.1 8B Instruct, Gemma 2 9B, Qwen 2.5 7B, Mistral 7B Instruct"),
    (7.0, "7-8B", "Llama 3.1 8B Instruct, Mistral 7B Instruct, Qwen 2.5 7B"),
    (4.5, "3-4B", "Phi-3 mini, Llama 3.2 3B Instruct, Qwen 2.5 3B, Gemma 3 4B"),
    (2.5, "1-3B", "Llama 3.2 1B or 3B Instruct, Qwen 2.5 1.5B, Gemma 3 1B"),
]
# (RAM in GB at least, model size, examples) on the processor, as Q4_K_M GGUF files on llama.cpp:
# memory bandwidth is the limit (an 8B model reads about 4.9 GB a token: 5-10 tokens a second).
CPU_TIERS = [
    (16.0, "3-8B", "Llama 3.1 8B Instruct or Qwen 2.5 7B as Q4_K_M GGUF (about 5-10 words a second), "
                   "Llama 3.2 3B Instruct for speed"),
    (8.0, "1-3B", "Llama 3.2 3B Instruct, Qwen 2.5 3B or Phi-3 mini as Q4_K_M GGUF"),
    (0.0, "the demo model (135M)", "the built-in demo model"),
]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _system() -> dict[str, Any]:
    import psutil

    memory = psutil.virtual_memory()
    return {
        "os": platform.platform(),
        "python": platform.python_version(),
        "cpu": {
            "model": _cpu_model(),
            "physical_cores": psutil.cpu_count(logical=False),
            "logical_cores": psutil.cpu_count(logical=True) or os.cpu_count(),
        },
        "ram": {"total_bytes": int(memory.total), "available_bytes": int(memory.available)},
    }


def _article(size: str) -> str:
    return "an" if size[:1] == "8" else "a"


def verdict(report: dict[str, Any]) -> dict[str, Any]:
    """One plain sentence, the mode, and the model size to choose."""
    gpus = report.get("gpus") or []
    bnb_gpu = (report.get("bitsandbytes") or {}).get("gpu") or {}
    ram_gb = report["system"]["ram"]["total_bytes"] / GB
    cpu_size, cpu_examples = next((s, e) for floor, s, e in CPU_TIERS if ram_gb >= floor)
    cpu_only = {"mode": "cpu", "gpu_found": bool(gpus), "recommended_size": cpu_size, "examples": cpu_examples}
    if not gpus:
        return {**cpu_only, "text": (
            "No NVIDIA GPU found: the assistant runs the model on the processor with llama.cpp. "
            f"With {ram_gb:.0f} GB of memory, choose {cpu_size} ({cpu_examples})."
        )}
    gpu = max(gpus, key=lambda g: g["total_bytes"])
    total_gb = gpu["total_bytes"] / GB
    name = f"{gpu['name']} ({total_gb:.0f} GB)"
    if not bnb_gpu.get("usable"):
        return {**cpu_only, "text": (
            f"Your {name} was found, but the 4-bit library (bitsandbytes) cannot use it "
            f"({bnb_gpu.get('reason') or 'unknown reason'}), so the assistant runs on the processor. "
            "Update the NVIDIA driver and restart the computer, then run this check again."
        )}
    tier = next(((s, e) for floor, s, e in GPU_TIERS if total_gb >= floor), None)
    if tier is None:
        return {**cpu_only, "text": (
            f"Your {name} has too little memory for a useful model in 4-bit: the assistant runs on the "
            f"processor. Choose {cpu_size} ({cpu_examples})."
        )}
    size, examples = tier
    text = f"Your {name} can run {_article(size)} {size} model in 4-bit ({examples})."
    used_gb = (gpu["total_bytes"] - gpu["free_bytes"]) / GB
    if used_gb > 0.25 * total_gb:
        text += f" Other programs are using {used_gb:.1f} GB of it right now; close them before starting."
    return {"mode": "gpu-4bit", "gpu_found": True, "recommended_size": size, "examples": examples, "text": text}


def _installed_models(config: Config, report: dict[str, Any]) -> list[dict[str, Any]]:
    from assistant.engine import models

    ram = report["system"]["ram"]["available_bytes"]
    room = max(g["free_bytes"] for g in report["gpus"]) if report["verdict"]["mode"] == "gpu-4bit" else ram
    active = models.active_name(config)
    rows = []
    for entry in models.list_models(config):
        need = entry.memory_bytes or entry.estimate_4bit_bytes
        space = ram if entry.format == "gguf" else room  # a GGUF file runs on the processor (llama.cpp)
        rows.append({
            "name": entry.name, "family": entry.family, "architecture": entry.architecture, "format": entry.format,
            "parameters": entry.parameters, "estimate_4bit_bytes": entry.estimate_4bit_bytes, "memory_bytes": need,
            "fits": entry.builtin or not need or need <= space,
            "active": entry.name == active, "builtin": entry.builtin,
        })
    return rows


def gather(config: Config | None = None) -> dict[str, Any]:
    """The full report. Imports torch (through the backend) on first call: a few seconds."""
    from assistant.engine import hf

    torch_side = hf.probe_hardware()
    report: dict[str, Any] = {
        "schema_version": 1,
        "app": {"version": __version__},
        "system": _system(),
        "torch": {k: torch_side[k] for k in ("torch", "transformers", "cuda_available", "cuda_runtime",
                                              "cuda_driver", "nvidia_driver")},
        "gpus": torch_side["gpus"],
        "bitsandbytes": {"version": torch_side["bitsandbytes"], "gpu": torch_side["bitsandbytes_gpu"],
                         "cpu": torch_side["bitsandbytes_cpu"]},
    }
    report["verdict"] = verdict(report)
    report["engine"] = _engine(config)
    report["models"] = _installed_models(config, report) if config is not None else []
    log.info("doctor: mode=%s gpus=%d", report["verdict"]["mode"], len(report["gpus"]))
    return report


def _engine(config: Config | None) -> dict[str, Any]:
    """Which engine loads the model here, and why, in plain words (``engine.choice``)."""
    import importlib.metadata

    from assistant.engine import choice

    setting = config.settings.engine if config is not None else "auto"
    picked = choice.choose(setting)
    try:
        llama = importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        llama = None
    report = {"setting": setting, "engine": picked.engine, "reason": picked.reason, "words": picked.words,
              "llama_cpp": llama}
    try:
        server = config.settings.server if config is not None else None
    except Exception:  # noqa: BLE001 - an unusable endpoint: the start says what is wrong
        server = None
    if server is not None and server.remote:  # addresses and names only, never the key
        host, port = server.host_port()
        report.update(model_server={"kind": server.kind, "host": host, "port": port, "model": server.model,
                                    "cloud": server.cloud},
                      words=f"drafts are written by {server.where_words()} (this computer's model: {picked.words})")
    return report


def available_for_model(report: dict[str, Any]) -> int:
    """Bytes a model may use: free GPU memory in GPU mode, else available RAM."""
    if report["verdict"]["mode"] == "gpu-4bit":
        return max(g["free_bytes"] for g in report["gpus"])
    return report["system"]["ram"]["available_bytes"]


def render_text(report: dict[str, Any]) -> str:
    """The report as short plain-text lines (the CLI prints it; the System tab shows it)."""
    system, torch_side, bnb = report["system"], report["torch"], report["bitsandbytes"]
    lines = [report["verdict"]["text"], "", f"Recommended model size: {report['verdict']['recommended_size']}", ""]
    engine = report.get("engine")
    if engine:
        lines.append(f"Engine: {engine['words']}")
    if report["gpus"]:
        for gpu in report["gpus"]:
            lines.append(
                f"GPU {gpu['index']}: {gpu['name']}, compute capability {gpu['compute_capability']}, "
                f"{gpu['total_bytes'] / GB:.1f} GB total, {gpu['free_bytes'] / GB:.1f} GB free"
            )
    else:
        lines.append("GPU: none found")
    lines.append(
        f"CUDA (as torch sees it): {torch_side['cuda_runtime'] or 'none'}; driver: "
        f"{torch_side['nvidia_driver'] or torch_side['cuda_driver'] or 'none'}"
    )
    lines.append(
        f"bitsandbytes {bnb['version'] or '(not installed)'}: GPU {_yes_no(bnb['gpu'])}, processor {_yes_no(bnb['cpu'])}"
    )
    cpu = system["cpu"]
    lines.append(f"Processor: {cpu['model']} ({cpu['physical_cores']} cores, {cpu['logical_cores']} threads)")
    lines.append(
        f"Memory: {system['ram']['total_bytes'] / GB:.1f} GB, {system['ram']['available_bytes'] / GB:.1f} GB available"
    )
    llama = (report.get("engine") or {}).get("llama_cpp")
    lines.append(f"Software: torch {torch_side['torch']}, transformers {torch_side['transformers']}, "
                 f"llama.cpp (llama-cpp-python) {llama or 'not installed'}, "
                 f"Practice Assistant {report['app']['version']}")
    for model in report.get("models") or []:
        need = f", needs about {model['memory_bytes'] / GB:.1f} GB of memory" if model.get("memory_bytes") else ""
        flag = "" if model["fits"] else " (may not fit)"
        lines.append(f"Model {model['name']}{' (in use)' if model['active'] else ''}: {model['family']}{need}{flag}")
    return "\n".join(lines)


def _yes_no(status: dict[str, Any]) -> str:
    if status.get("usable") is None:
        return f"not checked ({status.get('reason')})"
    return "usable" if status["usable"] else f"NOT usable ({status.get('reason')})"
