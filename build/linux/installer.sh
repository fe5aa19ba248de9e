#!/usr/bin/env bash
# Practice Assistant @VERSION@ for Linux (x86-64): a self-extracting installer.
# build/package.py puts a gzip'd tar of the program after the __PAYLOAD_BELOW__ line.
#
#   bash PracticeAssistant-@VERSION@-linux-x86_64.run            install for this user
#   bash PracticeAssistant-@VERSION@-linux-x86_64.run --help     options
#
# Installs the program into ~/.local/opt/practice-assistant (or --prefix DIR), a menu entry, a desktop
# icon and `practice-assistant` in ~/.local/bin. With --system (as root): /opt/practice-assistant and
# a menu entry for everyone.
# Installing over an older version replaces the program only: the user's data folder
# (~/.local/share/PracticeAssistant: settings, presets, models, drafts, audit log) is never touched.
set -euo pipefail

VERSION="@VERSION@"
PAYLOAD_SHA256="@PAYLOAD_SHA256@"
UNPACKED_KB="@UNPACKED_KB@"
APP_ID="practice-assistant"
APP_NAME="Practice Assistant"

PREFIX=""
QUIET=0
SHORTCUTS=1
SYSTEM=0

usage() {
  cat <<EOF
$APP_NAME $VERSION installer for Linux

  --prefix DIR      install into DIR (default: ~/.local/opt/practice-assistant,
                    or /opt/practice-assistant with --system)
  --user            for this user: shortcuts in ~/.local (the default, also as root)
  --system          for everyone (run as root): menu entry in /usr/local/share, no desktop icon
  --quiet           no questions, less output (for scripted installs)
  --no-shortcuts    no menu entry, desktop icon or command link
  --check           only check that this installer file is complete
  --help            this text

To remove the assistant later: DIR/uninstall.sh (add --remove-data to delete your data too).
EOF
}

say() { [[ $QUIET == 1 ]] || printf '%s\n' "$*"; }
die() { printf 'Problem: %s\n' "$*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --prefix) [[ $# -ge 2 ]] || die "--prefix needs a folder, e.g. --prefix \"\$HOME/PracticeAssistant\"."; PREFIX="$2"; shift 2 ;;
    --prefix=*) PREFIX="${1#--prefix=}"; shift ;;
    -q|--quiet) QUIET=1; shift ;;
    --no-shortcuts) SHORTCUTS=0; shift ;;
    --user) SYSTEM=0; shift ;;
    --system) SYSTEM=1; shift ;;
    --check) CHECK_ONLY=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1'. Run with --help to see the options." ;;
  esac
done

payload_line() { awk '/^__PAYLOAD_BELOW__$/ { print NR + 1; exit }' "$0"; }
LINE="$(payload_line)"
[[ -n "$LINE" ]] || die "this installer file is damaged (its contents are missing). Copy it again from your vendor."
payload() { tail -n +"$LINE" "$0"; }

say "Checking the installer file ..."
if [[ "$(payload | sha256sum | cut -d' ' -f1)" != "$PAYLOAD_SHA256" ]]; then
  die "this installer file is damaged or incomplete (its checksum does not match). Copy it again from your vendor."
fi
if [[ "${CHECK_ONLY:-0}" == 1 ]]; then say "The installer file is complete."; exit 0; fi

[[ "$(uname -s)" == Linux ]] || die "this installer is for Linux. Ask your vendor for the installer for this computer."
[[ "$(uname -m)" == x86_64 ]] || die "this installer is for 64-bit Intel/AMD processors (x86-64), and this computer has $(uname -m)."

ROOT_INSTALL=$SYSTEM
if [[ $SYSTEM == 1 && "$(id -u)" != 0 ]]; then
  die "--system installs for everyone and needs an administrator: run it with sudo, or leave out --system to install for yourself."
fi
if [[ -z "$PREFIX" ]]; then
  if [[ $ROOT_INSTALL == 1 ]]; then PREFIX="/opt/$APP_ID"; else PREFIX="$HOME/.local/opt/$APP_ID"; fi
fi
case "$PREFIX" in
  /*) ;;
  *) PREFIX="$PWD/$PREFIX" ;;
esac
case "$PREFIX" in
  *'"'*|*'`'*|*'$'*|*'\'*|*$'\n'*) die "the folder name '$PREFIX' contains a character a menu entry cannot hold (\" \` \$ \\). Choose another folder with --prefix DIR." ;;
esac

# The nearest folder that exists decides whether we may write and how much room there is.
existing="$PREFIX"
while [[ ! -e "$existing" ]]; do existing="$(dirname "$existing")"; done
if [[ ! -d "$existing" ]]; then
  die "cannot install into $PREFIX: $existing is a file, not a folder. Choose another folder with --prefix DIR."
fi
if [[ ! -w "$existing" ]]; then
  die "cannot install into $PREFIX: you may not write to $existing. Choose a folder you own with --prefix DIR (for example --prefix \"\$HOME/PracticeAssistant\"), or ask your administrator to run the installer."
fi
created=0
[[ -d "$PREFIX" ]] || created=1
if ! mkdir -p "$PREFIX" 2>/dev/null || [[ ! -w "$PREFIX" ]]; then
  die "cannot install into $PREFIX: you may not write there. Choose a folder you own with --prefix DIR (for example --prefix \"\$HOME/PracticeAssistant\"), or ask your administrator to run the installer."
fi
free_kb="$(df -Pk "$PREFIX" | awk 'NR == 2 { print $4 }')"
need_kb=$(( UNPACKED_KB + UNPACKED_KB / 10 + 51200 ))
if [[ -n "$free_kb" && "$free_kb" -lt "$need_kb" ]]; then
  [[ $created == 1 ]] && rmdir "$PREFIX" 2>/dev/null
  die "not enough disk space in $PREFIX: the assistant needs about $(( need_kb / 1024 )) MB and $(( free_kb / 1024 )) MB is free. Free some space, or choose another folder with --prefix DIR."
fi

# Never replace the program under a running copy.
DATA_DIR="${ASSISTANT_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/PracticeAssistant}"
if [[ -f "$DATA_DIR/instance.json" ]]; then
  pid="$(sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' "$DATA_DIR/instance.json")"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "$APP_ID\|assistant"; then
    die "the assistant is running. Quit it first (Help tab, then 'Quit the assistant'), then run the installer again."
  fi
fi

previous=""
[[ -f "$PREFIX/VERSION" ]] && previous="$(cat "$PREFIX/VERSION")"

say "Installing $APP_NAME $VERSION into $PREFIX ..."
incoming="$PREFIX/.incoming"
rm -rf "$incoming"
mkdir -p "$incoming"
if ! payload | tar -xzf - -C "$incoming"; then
  rm -rf "$incoming"
  die "the program could not be unpacked into $PREFIX (is the disk full?). Nothing was changed."
fi
# Swap the program folder in one step; the old one is removed only once the new one is in place.
if [[ -d "$PREFIX/app" ]]; then
  rm -rf "$PREFIX/.previous"
  mv "$PREFIX/app" "$PREFIX/.previous"
fi
mv "$incoming/app" "$PREFIX/app"
for file in uninstall.sh icon.png THIRD-PARTY-LICENSES.txt; do
  mv -f "$incoming/$file" "$PREFIX/$file"
done
chmod 755 "$PREFIX/uninstall.sh" "$PREFIX/app/$APP_ID"
printf '%s\n' "$VERSION" > "$PREFIX/VERSION"
rm -rf "$incoming" "$PREFIX/.previous"

# Shortcuts: a menu entry, a desktop icon, and a command for terminals. Listed for the uninstaller.
: > "$PREFIX/installed-files"
if [[ $SHORTCUTS == 1 ]]; then
  if [[ $ROOT_INSTALL == 1 ]]; then
    share="/usr/local/share"; bindir="/usr/local/bin"; desktop_dir=""
  else
    share="${XDG_DATA_HOME:-$HOME/.local/share}"; bindir="$HOME/.local/bin"
    desktop_dir="$(xdg-user-dir DESKTOP 2>/dev/null || true)"
    [[ -n "$desktop_dir" && "$desktop_dir" != "$HOME" ]] || desktop_dir="$HOME/Desktop"
  fi
  entry() {
    cat <<EOF
[Desktop Entry]
Type=Application
Version=1.0
Name=$APP_NAME
GenericName=Private writing assistant
Comment=Drafts progress notes and letters on this computer only
Exec="$PREFIX/app/$APP_ID"
Icon=$PREFIX/icon.png
Terminal=false
Categories=Office;MedicalSoftware;
StartupNotify=false
EOF
  }
  mkdir -p "$share/applications" "$share/icons/hicolor/256x256/apps" "$bindir"
  entry > "$share/applications/$APP_ID.desktop"
  cp "$PREFIX/icon.png" "$share/icons/hicolor/256x256/apps/$APP_ID.png"
  ln -sfn "$PREFIX/app/$APP_ID" "$bindir/$APP_ID"
  printf '%s\n' "$share/applications/$APP_ID.desktop" "$share/icons/hicolor/256x256/apps/$APP_ID.png" \
    "$bindir/$APP_ID" >> "$PREFIX/installed-files"
  if [[ -n "$desktop_dir" && -d "$desktop_dir" ]]; then
    entry > "$desktop_dir/$APP_ID.desktop"
    chmod 755 "$desktop_dir/$APP_ID.desktop"
    # GNOME shows a desktop launcher only once it is marked trusted (needs a desktop session).
    gio set "$desktop_dir/$APP_ID.desktop" metadata::trusted true >/dev/null 2>&1 || true
    printf '%s\n' "$desktop_dir/$APP_ID.desktop" >> "$PREFIX/installed-files"
  elif [[ $ROOT_INSTALL == 0 ]]; then
    say "(No desktop folder was found, so no desktop icon was made; the menu entry is there.)"
  fi
  update-desktop-database "$share/applications" >/dev/null 2>&1 || true
fi

if [[ -n "$previous" && "$previous" != "$VERSION" ]]; then
  say "Updated $APP_NAME from $previous to $VERSION. Your data, settings, presets and models are kept."
else
  say "Installed $APP_NAME $VERSION."
fi
say "Start it from its desktop icon or the applications menu (Office). To remove it: $PREFIX/uninstall.sh"
exit 0
__PAYLOAD_BELOW__
