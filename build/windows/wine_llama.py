"""llama.cpp for Windows, built on Linux with mingw-w64 from llama-cpp-python's source archive
(there is no Windows wheel on PyPI), packed as a wheel that Windows pip installs under Wine.
llama-cpp-python loads llama.dll and ggml*.dll from llama_cpp/lib, as on Linux. Used by wine_build.py.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tarfile
import zipfile
from pathlib import Path

import wine_prefix as wp

WINDOWS = Path(__file__).resolve().parent
WINPTHREAD = Path("/usr/x86_64-w64-mingw32/lib/libwinpthread-1.dll")
LLAMA_FLAGS = ["-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=ON", "-DGGML_NATIVE=OFF", "-DGGML_OPENMP=OFF",
               "-DGGML_LLAMAFILE=OFF", "-DGGML_AVX=ON", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON",
               "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_TOOLS=OFF",
               "-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_BUILD_COMMON=OFF", "-DLLAMA_CURL=OFF",
               # GCC's runtime linked in (not exported twice); only libwinpthread-1.dll travels beside them
               "-DCMAKE_SHARED_LINKER_FLAGS=-static-libgcc -static-libstdc++ -Wl,--exclude-libs,libgcc.a:libgcc_eh.a:libstdc++.a"]
TOOLCHAIN = """set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc-posix)
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-g++-posix)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)
set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
"""


def log(text: str) -> None:
    print(text, flush=True)


def _write_wheel(folder: Path, version: str, out: Path) -> Path:
    """A wheel of llama_cpp/ as it is in ``folder`` (no build backend needed)."""
    dist = f"llama_cpp_python-{version}.dist-info"
    wheel = out / f"llama_cpp_python-{version}-py3-none-win_amd64.whl"
    meta = {f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: llama_cpp_python\nVersion: {version}\n"
                                "Requires-Dist: typing-extensions>=4.5.0\nRequires-Dist: numpy>=1.20.0\n"
                                "Requires-Dist: diskcache>=5.6.1\nRequires-Dist: jinja2>=2.11.3\nLicense: MIT\n",
            f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: practice-assistant\nRoot-Is-Purelib: false\n"
                             "Tag: py3-none-win_amd64\n"}
    records = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        entries = [(p.relative_to(folder).as_posix(), p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()]
        entries += [(name, text.encode()) for name, text in meta.items()]
        for name, data in entries:
            archive.writestr(name, data)
            hashed = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            records.append(f"{name},sha256={hashed},{len(data)}")
        records.append(f"{dist}/RECORD,,")
        archive.writestr(f"{dist}/RECORD", "\n".join(records) + "\n")
    return wheel


def llama_wheel(sdist: Path, version: str) -> Path:
    """llama-cpp-python for Windows: its Python code and llama.cpp's DLLs built with mingw-w64."""
    compat = WINDOWS / "wine" / "llama_compat.h"
    gcc = wp.run(["x86_64-w64-mingw32-g++-posix", "--version"]).splitlines()[0]
    folder = wp.CACHE / f"llama-{version}-{wp.digest(sdist.name, ' '.join(LLAMA_FLAGS), compat, gcc, TOOLCHAIN)}"
    wheels = list(folder.glob("*.whl"))
    if wheels:
        return wheels[0]
    log("Building llama.cpp for Windows with mingw-w64 (first time only: about 6 minutes on 2 cores) ...")
    shutil.rmtree(folder, ignore_errors=True)
    source, build = folder / "src", folder / "cmake"
    source.mkdir(parents=True)
    with tarfile.open(sdist) as archive:
        archive.extractall(source, filter="data")
    top = next(source.iterdir())
    (folder / "toolchain.cmake").write_text(TOOLCHAIN)
    wp.run(["cmake", "-S", str(top / "vendor" / "llama.cpp"), "-B", str(build),
            f"-DCMAKE_TOOLCHAIN_FILE={folder / 'toolchain.cmake'}", f"-DCMAKE_C_FLAGS=-include {compat}", *LLAMA_FLAGS],
           what="configuring llama.cpp for Windows", log=folder / "cmake.log")
    wp.run(["cmake", "--build", str(build), "-j", str(os.cpu_count() or 2), "--target", "llama"],
           what="building llama.cpp for Windows", log=folder / "build.log", timeout=3600)
    package = folder / "wheel"
    shutil.copytree(top / "llama_cpp", package / "llama_cpp")
    (package / "llama_cpp" / "lib").mkdir(exist_ok=True)
    for dll in (build / "bin").glob("*.dll"):
        shutil.copy2(dll, package / "llama_cpp" / "lib" / dll.name)
    # MinGW's POSIX threads (MIT licence), which GCC's std::thread uses; Windows has no copy of its own
    shutil.copy2(WINPTHREAD, package / "llama_cpp" / "lib" / WINPTHREAD.name)
    if not list((package / "llama_cpp" / "lib").glob("*llama.dll")):  # mingw names it libllama.dll
        raise wp.WineError(f"llama.cpp's build made no llama.dll (see {folder / 'build.log'})")
    wheel = _write_wheel(package, version, folder)
    for scratch in (build, source, package):
        shutil.rmtree(scratch, ignore_errors=True)
    return wheel


def converter(prefix: Path, sdist: Path) -> None:
    """llama.cpp's model converter where the spec looks for it (sys.prefix/share/llama-convert)."""
    target = prefix / "drive_c" / "py311" / "share" / "llama-convert"
    if (target / "convert_hf_to_gguf.py").is_file():
        return
    with tarfile.open(sdist) as archive:
        for member in archive.getmembers():
            parts = member.name.split("/")
            if len(parts) > 3 and parts[1:3] == ["vendor", "llama.cpp"] and parts[3] in (
                    "convert_hf_to_gguf.py", "conversion", "gguf-py", "LICENSE") and member.isfile():
                out = target.joinpath(*parts[3:])
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(archive.extractfile(member).read())  # type: ignore[union-attr]


