#!/usr/bin/env bash
# Build PracticeAssistant.app and a .dmg on a Mac (after the setup in build/README.md).
#   build/macos/build_dmg.sh [vendor options for build/build.py]
# Signing and notarization run when these are set (see build/README.md):
#   SIGN_IDENTITY="Developer ID Application: Your Company (TEAMID)"
#   NOTARY_PROFILE=practice-assistant   (made once with: xcrun notarytool store-credentials)
set -euo pipefail
cd "$(dirname "$0")/../.."
.venv/bin/python build/build.py --stage-only "$@"

info=build/out/stage/app/Contents/Resources/build-info.json
version="$(.venv/bin/python -c "import json; print(json.load(open('$info'))['version'])")"
root=build/out/dmg-root
dmg="build/out/PracticeAssistant-$version-macos.dmg"
rm -rf "$root" "$dmg"
mkdir -p "$root"
# A real copy (ditto), never the hard links of the cached build: signing writes into the files.
ditto build/out/stage/app "$root/PracticeAssistant.app"
ln -s /Applications "$root/Applications"

if [[ -n "${SIGN_IDENTITY:-}" ]]; then
  # Inside out: every library and executable, then the app, with the hardened runtime.
  find "$root/PracticeAssistant.app/Contents" -type f \( -name '*.so' -o -name '*.dylib' -o -perm -111 \) -print0 |
    xargs -0 codesign --force --timestamp --options runtime \
      --entitlements build/macos/entitlements.plist --sign "$SIGN_IDENTITY"
  codesign --force --timestamp --options runtime --entitlements build/macos/entitlements.plist \
    --sign "$SIGN_IDENTITY" "$root/PracticeAssistant.app"
  codesign --verify --deep --strict --verbose=2 "$root/PracticeAssistant.app"
fi

hdiutil create -volname "Practice Assistant" -srcfolder "$root" -ov -format UDZO "$dmg"

if [[ -n "${SIGN_IDENTITY:-}" ]]; then
  codesign --force --timestamp --sign "$SIGN_IDENTITY" "$dmg"
fi
if [[ -n "${NOTARY_PROFILE:-}" ]]; then
  xcrun notarytool submit "$dmg" --keychain-profile "$NOTARY_PROFILE" --wait
  xcrun stapler staple "$dmg"
  spctl --assess --type open --context context:primary-signature --verbose "$dmg"
fi
echo "Disk image: $dmg"
