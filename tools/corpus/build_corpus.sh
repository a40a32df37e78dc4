#!/usr/bin/env bash
# Rebuilds tools/corpus/corpus.txt.xz (xz-compressed text: 0.8 MB in the repo instead of 2.5) from Debian's fortune cookie packages.
#
#   tools/corpus/build_corpus.sh            # writes tools/corpus/corpus.txt.xz
#   EXCLUDE="ascii-art ethnic" tools/corpus/build_corpus.sh
#
# Sources: the Debian packages `fortunes` and `fortunes-min` (BSD licence, see LICENSE.md).
# `fortunes-off` (the offensive sets) is never used. Debian's `fortune-mod` ships only the
# program (no data), so it contributes nothing but its copyright file.
# Steps: apt-get download -> dpkg -x -> split strfile sources on lines holding only `%`
# -> normalise (UTF-8, NFC, overstrike removed, control chars dropped, trailing blanks
# stripped) -> drop empty and over-long entries -> dedupe (case/whitespace-insensitive,
# first occurrence wins, files in sorted order) -> write entries separated by `%` lines.
# Deterministic for a given set of package versions (the versions are printed).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${OUT_FILE:-$here/corpus.txt.xz}"
exclude="${EXCLUDE:-ascii-art}"
pkgs="fortunes fortunes-min fortune-mod"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get download $pkgs >/dev/null 2>&1; then
  echo "build_corpus: apt-get download failed; running apt-get update first" >&2
  apt-get update -qq
  apt-get download $pkgs
fi
for deb in ./*.deb; do
  name="$(dpkg-deb -f "$deb" Package)"
  echo "build_corpus: $name $(dpkg-deb -f "$deb" Version) ($(basename "$deb"))"
  mkdir -p "x/$name"
  dpkg -x "$deb" "x/$name"
done

EXCLUDE="$exclude" python3 - "$work/x" "$out" <<'PY'
import lzma, os, re, sys, unicodedata

root, out = sys.argv[1], sys.argv[2]
exclude = set(os.environ.get("EXCLUDE", "").split())
MAX_CHARS = 3000  # drop the few very long entries (whole songs, long stories)

files = []
for pkg in sorted(os.listdir(root)):
    d = os.path.join(root, pkg, "usr/share/games/fortunes")
    if not os.path.isdir(d):
        continue
    for name in sorted(os.listdir(d)):
        p = os.path.join(d, name)
        if name.endswith((".dat", ".u8")) or os.path.islink(p) or not os.path.isfile(p):
            continue
        if name in exclude:
            print(f"build_corpus: skip {pkg}/{name} (excluded)")
            continue
        files.append((pkg, name, p))

overstrike = re.compile(r".\x08")
controls = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

def fix_mojibake(line: str) -> str:
    # A few source lines are UTF-8 that was decoded as Latin-1 and re-encoded (twice):
    # "donÃ¢ÂÂt". Undo while the bytes still decode as strict UTF-8.
    for _ in range(3):
        if not re.search(r"[\u0080-\u00ff]", line):
            break
        try:
            line = line.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            break
    return line

def normalise(entry: str) -> str:
    while overstrike.search(entry):
        entry = overstrike.sub("", entry)
    entry = "\n".join(fix_mojibake(ln) for ln in entry.split("\n"))
    entry = controls.sub("", entry)
    entry = unicodedata.normalize("NFC", entry)
    lines = [ln.rstrip() for ln in entry.split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)

seen, entries = set(), []
for pkg, name, path in files:
    raw = open(path, "rb").read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    chunks, cur = [], []
    for line in text.split("\n"):
        if line.rstrip() == "%":  # strfile separator line
            chunks.append("\n".join(cur))
            cur = []
        else:
            cur.append(line)
    chunks.append("\n".join(cur))
    kept = total = 0
    for chunk in chunks:
        e = normalise(chunk)
        if not e:
            continue
        total += 1
        if len(e) > MAX_CHARS:
            continue
        key = " ".join(e.lower().split())
        if key in seen:
            continue
        seen.add(key)
        entries.append(e)
        kept += 1
    print(f"build_corpus: {pkg}/{name}: {kept}/{total} entries kept")

body = "\n%\n".join(entries) + "\n"
opener = lzma.open if out.endswith(".xz") else open
with opener(out, "wt", encoding="utf-8", newline="\n") as f:
    f.write(body)
print(f"build_corpus: wrote {out}: {len(entries)} entries, {len(body.encode())} bytes")
PY
