#!/usr/bin/env bash
# What a device call sends to the GPU host: the working tree (tracked files, plus untracked files
# git does not ignore) and the carried paths, against the 64 MiB limit (docs/BUNDLE.md).
#
#   bash tools/travel_size.sh [CARRIED_PATH...]     (default: .bundle dist)
#
# Prints one line per part and the total with the room left; exits 1 when the total is over.
set -euo pipefail
cd "$(dirname "$0")/.."
LIMIT_MIB=${TRAVEL_LIMIT_MIB:-64}
[ $# -gt 0 ] || set -- .bundle dist

# Sums the sizes of the NUL-separated file names on stdin (missing ones count 0: deleted, unstaged).
sum_files() { xargs -0r stat -L -c %s -- 2>/dev/null | awk '{ s += $1 } END { print s + 0 }' || true; }
mib() { awk -v b="$1" 'BEGIN { printf "%7.2f MiB", b / 1048576 }'; }

tracked=$(git ls-files -z | sum_files)
untracked=$(git ls-files -z --others --exclude-standard | sum_files)
total=$((tracked + untracked))
printf '%s  tracked files (%s)\n' "$(mib "$tracked")" "$(git ls-files | wc -l) files"
printf '%s  untracked, not ignored\n' "$(mib "$untracked")"
for p in "$@"; do
  if [ ! -e "$p" ]; then
    printf '%11s  %s (missing)\n' '-' "$p"
    continue
  fi
  b=$(find "$p" -type f -print0 | sum_files)
  total=$((total + b))
  maps=$(find "$p" -type f -name '*.map' -print0 | sum_files)
  note=""
  [ "$maps" = 0 ] || note=" (source maps: $(mib "$maps" | sed 's/^ *//'); find $p -name '*.map' -delete drops them)"
  printf '%s  %s%s\n' "$(mib "$b")" "$p" "$note"
done
limit=$((LIMIT_MIB * 1048576))
printf '%s  total of %d MiB: %s room\n' "$(mib "$total")" "$LIMIT_MIB" "$(mib $((limit - total)) | sed 's/^ *//')"
[ "$total" -le "$limit" ] || { echo "over the ${LIMIT_MIB} MiB a device call may carry" >&2; exit 1; }
