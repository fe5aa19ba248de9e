"""The frozen app kept outside the clone (build/frozen_cache.py): a fresh clone of the same sources
reuses it, a half-written copy never is, and only the newest is kept. On a small stand-in bundle of
real files; tests/test_installer.py runs it on the real frozen app (its log says "reused the one kept").
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "build"))

import frozen_cache  # noqa: E402


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(frozen_cache, "CACHE", tmp_path / "cache" / "frozen-linux")
    return frozen_cache.CACHE


def bundle_in(folder: Path, text: str) -> Path:
    app = folder / "PracticeAssistant"
    (app / "_internal").mkdir(parents=True)
    (app / "practice-assistant").write_bytes(b"\x7fELF" + text.encode())
    (app / "_internal" / "base_library.zip").write_text(text)
    (app / "_internal" / "libpython.so").symlink_to("base_library.zip")
    return app


def test_a_kept_freeze_is_restored_whole_into_a_fresh_clone(tmp_path, cache):
    first = bundle_in(tmp_path / "clone1" / "dist", "one")
    assert frozen_cache.keep("key1", first)
    fresh = tmp_path / "clone2" / "dist" / "PracticeAssistant"
    assert frozen_cache.restore("key1", fresh)
    assert (fresh / "_internal" / "base_library.zip").read_text() == "one"
    assert (fresh / "_internal" / "libpython.so").is_symlink(), "links inside the app stay links"
    assert os.path.samefile(fresh / "practice-assistant", cache / "key1" / "PracticeAssistant" / "practice-assistant"), \
        "hard-linked: restoring costs no disk"
    assert not frozen_cache.restore("other-key", tmp_path / "clone3" / "dist" / "PracticeAssistant")


def test_only_the_newest_key_is_kept_and_a_half_written_copy_is_never_reused(tmp_path, cache):
    assert frozen_cache.keep("key1", bundle_in(tmp_path / "a", "one"))
    assert frozen_cache.keep("key2", bundle_in(tmp_path / "b", "two"))
    assert sorted(p.name for p in cache.iterdir()) == ["key2"]
    (cache / ".key3.partial" / "PracticeAssistant").mkdir(parents=True)  # a build killed while keeping
    assert frozen_cache.kept("key3", "PracticeAssistant") is None
    assert not frozen_cache.restore("key3", tmp_path / "c" / "PracticeAssistant")


def test_a_cache_that_cannot_be_written_does_not_fail_the_build(tmp_path, cache):
    cache.parent.mkdir(parents=True)
    cache.write_text("a file where the folder would go")
    assert frozen_cache.keep("key1", bundle_in(tmp_path / "a", "one")) is False


def test_the_cache_follows_assistant_build_cache_and_the_windows_build_keeps_its_own(tmp_path):
    code = ("import sys; sys.path.insert(0, 'build'); import frozen_cache, build; "
            "print(frozen_cache.CACHE); print(build.KEEP_OUTSIDE)")
    env = {**os.environ, "ASSISTANT_BUILD_CACHE": str(tmp_path / "elsewhere")}
    env.pop("ASSISTANT_BUILD_DIR", None)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(tmp_path / "elsewhere" / f"frozen-{sys.platform}"), "True"]
    env["ASSISTANT_BUILD_DIR"] = str(tmp_path / "wine-freeze")  # what wine_build.py sets for its own cache
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "False"
