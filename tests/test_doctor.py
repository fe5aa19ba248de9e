"""The hardware check: the real report on this machine (no GPU), and the verdict
for the machines practices have, from reports shaped like the real one."""

from __future__ import annotations

import json

import pytest

from assistant.cli import main
from assistant.ops import doctor

GB = 1024**3


def report_with(gpus: list[dict], *, bnb_ok: bool | None = True, ram_gb: float = 32, reason: str = "") -> dict:
    return {
        "system": {"ram": {"total_bytes": int(ram_gb * GB), "available_bytes": int(ram_gb * GB * 0.7)}},
        "gpus": gpus,
        "bitsandbytes": {"gpu": {"usable": bnb_ok, "reason": reason}},
    }


def gpu(name: str, total_gb: float, free_gb: float | None = None, cc: str = "8.6") -> dict:
    free = total_gb if free_gb is None else free_gb
    return {"index": 0, "name": name, "compute_capability": cc, "total_bytes": int(total_gb * GB),
            "free_bytes": int(free * GB), "bf16": True}


def test_doctor_json_on_this_machine_reports_no_gpu_and_recommends_cpu_mode(capsys) -> None:
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["gpus"] == []
    assert report["torch"]["cuda_available"] is False
    assert report["verdict"]["mode"] == "cpu"
    assert report["verdict"]["gpu_found"] is False
    assert report["verdict"]["text"].startswith("No NVIDIA GPU found: the assistant runs the model on the processor "
                                                "with llama.cpp")
    assert report["engine"]["engine"] == "llamacpp" and report["engine"]["setting"] == "auto"
    assert report["engine"]["words"] == "llama.cpp on the processor, because no NVIDIA GPU was found"
    assert report["engine"]["llama_cpp"] == "0.3.36"
    assert report["verdict"]["recommended_size"]
    assert report["bitsandbytes"]["cpu"]["usable"] is True  # NF4 works on this processor
    assert report["system"]["ram"]["total_bytes"] > 0 and report["system"]["cpu"]["logical_cores"] >= 1
    assert {"torch", "transformers", "cuda_runtime", "cuda_driver", "nvidia_driver"} <= set(report["torch"])


def test_doctor_text_is_plain_sentences(capsys) -> None:
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("No NVIDIA GPU found")
    assert "Recommended model size:" in out and "GPU: none found" in out and "Memory:" in out
    assert "Engine: llama.cpp on the processor, because no NVIDIA GPU was found" in out
    assert "{" not in out and "Traceback" not in out


def test_rtx_3060_can_run_an_8b_model_in_4bit() -> None:
    verdict = doctor.verdict(report_with([gpu("NVIDIA GeForce RTX 3060", 11.76)]))
    assert verdict["mode"] == "gpu-4bit" and verdict["recommended_size"] == "8B"
    assert verdict["text"].startswith("Your NVIDIA GeForce RTX 3060 (12 GB) can run an 8B model in 4-bit")


@pytest.mark.parametrize("total, size", [(7.6, "7-8B"), (5.8, "3-4B"), (3.8, "1-3B")])
def test_smaller_gpus_get_smaller_models(total: float, size: str) -> None:
    verdict = doctor.verdict(report_with([gpu("NVIDIA Card", total)]))
    assert verdict["mode"] == "gpu-4bit" and verdict["recommended_size"] == size
    assert f"run a {size} model in 4-bit" in verdict["text"]


def test_a_tiny_gpu_or_one_the_4bit_library_cannot_use_means_cpu_mode() -> None:
    tiny = doctor.verdict(report_with([gpu("NVIDIA GT 710", 2.0)]))
    assert tiny["mode"] == "cpu" and "too little memory" in tiny["text"]
    old = doctor.verdict(report_with([gpu("NVIDIA GeForce GTX 680", 2.0, cc="3.0")], bnb_ok=False,
                                     reason="its 4-bit test failed (compute capability 3.0)"))
    assert old["mode"] == "cpu" and old["gpu_found"] is True
    assert "cannot use it" in old["text"] and "Update the NVIDIA driver" in old["text"]


def test_busy_gpu_is_mentioned() -> None:
    verdict = doctor.verdict(report_with([gpu("NVIDIA GeForce RTX 4070", 12, free_gb=4)]))
    assert "Other programs are using 8.0 GB" in verdict["text"]


@pytest.mark.parametrize("ram, size", [(32, "3-8B"), (8, "1-3B"), (4, "the demo model (135M)")])
def test_cpu_recommendation_follows_memory(ram: float, size: str) -> None:
    verdict = doctor.verdict(report_with([], ram_gb=ram))
    assert verdict["mode"] == "cpu" and verdict["recommended_size"] == size


def test_settings_can_force_either_engine(tmp_path, capsys) -> None:
    from assistant.store.config import Config

    config = Config.load()
    config.settings.engine = "transformers"
    config.settings.save(config.paths)
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["engine"]["engine"] == "transformers" and report["engine"]["setting"] == "transformers"
    assert "because it was chosen in settings.json" in report["engine"]["words"]
    config.settings.engine = "wrong"
    config.settings.save(config.paths)
    assert Config.load().settings.engine == "auto", "an unknown engine in settings.json falls back to auto"
