#!/usr/bin/env bash
# Remove Practice Assistant: the program, its menu entry, desktop icon and command link.
# The user's data (settings, presets, models, kept drafts, audit log) is removed only when asked.
#
#   uninstall.sh                 asks whether to delete your data too (keeps it if you just press Enter)
#   uninstall.sh --keep-data     keep the data, no questions
#   uninstall.sh --remove-data   delete the data too, no questions
set -euo pipefail

APP_ID="practice-assistant"
HERE="$(cd "$(dirname "$0")" && pwd)"
DATA_DIR="${ASSISTANT_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/PracticeAssistant}"
DATA="ask"

die() { printf 'Problem: %s\n' "$*" >&2; exit 1; }

for arg in "$@"; do
  case "$arg" in
    --remove-data) DATA="remove" ;;
    --keep-data|-q|--quiet) DATA="keep" ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$arg'. Use --keep-data or --remove-data." ;;
  esac
done

[[ -x "$HERE/app/$APP_ID" ]] || die "$HERE does not hold Practice Assistant (app/$APP_ID is missing); nothing was removed."
[[ -w "$HERE" ]] || die "you may not change $HERE. Ask your administrator to remove the assistant."

if [[ -f "$DATA_DIR/instance.json" ]]; then
  pid="$(sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' "$DATA_DIR/instance.json")"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "$APP_ID\|assistant"; then
    die "the assistant is running. Quit it first (Help tab, then 'Quit the assistant'), then run this again."
  fi
fi

if [[ $DATA == ask && -d "$DATA_DIR" ]]; then
  if [[ -t 0 ]]; then
    echo "Your data is in $DATA_DIR: settings, presets, models, kept drafts and the audit log."
    echo "The audit log may be a record your practice must keep; export it first with:"
    echo "  $HERE/app/$APP_ID audit export --csv audit.csv"
    read -r -p "Delete your data as well? [y/N] " answer
    [[ "$answer" == y || "$answer" == Y || "$answer" == yes ]] && DATA="remove" || DATA="keep"
  else
    DATA="keep"
  fi
fi

if [[ -f "$HERE/installed-files" ]]; then
  while IFS= read -r file; do
    [[ -n "$file" ]] && rm -f -- "$file"
  done < "$HERE/installed-files"
fi
update-desktop-database "${XDG_DATA_HOME:-$HOME/.local/share}/applications" >/dev/null 2>&1 || true
rm -rf -- "$HERE/app" "$HERE/.incoming" "$HERE/.previous"
rm -f -- "$HERE/icon.png" "$HERE/VERSION" "$HERE/installed-files" "$HERE/THIRD-PARTY-LICENSES.txt"

if [[ $DATA == remove && -d "$DATA_DIR" ]]; then
  rm -rf -- "$DATA_DIR"
  echo "Practice Assistant and your data were removed."
elif [[ -d "$DATA_DIR" ]]; then
  echo "Practice Assistant was removed. Your data was kept in $DATA_DIR."
else
  echo "Practice Assistant was removed."
fi
rm -f -- "$HERE/uninstall.sh"
rmdir -- "$HERE" 2>/dev/null || true
