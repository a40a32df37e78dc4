#!/usr/bin/env bash
# tknp offline bundle launcher: copied into .bundle/ by tools/bundle.ts (docs/BUNDLE.md).
#
#   bash .bundle/run.sh [--tree DIR] [--] [COMMAND] [ARGS...]
#     test [vitest args]  `vitest run` in the project root, against the real GPU
#     node [node args]    node with arbitrary args (bench scripts: node dist/bench/...)
#     tsc [tsc args]      the TypeScript compiler, in bundles built with --with-tsc
#     doctor              prints the Vulkan setup and the adapter tknp gets
#     anything else       node dist/src/cli/main.js COMMAND ARGS...
#   --tree DIR            run in the project tree DIR (its src/, test/, shaders/, dist/) instead of
#                         the bundled snapshot, with the bundle's node and node_modules (a --lean
#                         bundle has no snapshot: it needs --tree)
#
# Needs bash, tar, and xz or python3 (for .xz files); no node, npm or network. Unpacks node and
# the project once per bundle id into $TKNP_BUNDLE_CACHE (default ${TMPDIR:-/tmp}/tknp-bundle-UID),
# installs the bundled Vulkan loader packages whose libraries ldconfig cannot find (into / as
# root, else into a private dir on LD_LIBRARY_PATH; TKNP_BUNDLE_LIBS=auto|system|private|none;
# TKNP_LDCONFIG=/bin/true makes every package count as missing),
# points the loader at the NVIDIA ICD when one exists, sets XDG_RUNTIME_DIR, and execs node in
# the project root: the command's exit code is run.sh's. Launcher failures exit with 125.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
say() { [ -n "${TKNP_BUNDLE_QUIET:-}" ] || echo "[tknp bundle] $*" >&2; }
die() { echo "[tknp bundle] error: $*" >&2; exit 125; }

tree=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tree) [ $# -ge 2 ] || die "--tree needs a directory"; tree=$2; shift 2 ;;
    --tree=*) tree=${1#--tree=}; shift ;;
    --) shift; break ;;
    *) break ;;
  esac
done

# bundle.env: KEY=VALUE lines written by tools/bundle.ts (read, never sourced).
declare -A B=()
[ -f "$here/bundle.env" ] || die "$here/bundle.env missing: is this a tknp bundle (npm run bundle)?"
while IFS='=' read -r k v; do
  case "$k" in '' | \#*) continue ;; esac
  B[$k]=$v
done <"$here/bundle.env"
for k in BUNDLE_ID NODE_FILE NODE_SHA256 APP_FILE APP_SHA256; do
  [ -n "${B[$k]:-}" ] || die "bundle.env lacks $k"
done
id=${B[BUNDLE_ID]}
if [ -z "$tree" ] && [ "${B[LEAN]:-0}" = 1 ]; then
  die "this --lean bundle carries node and node_modules only, no project: run it as run.sh --tree DIR (a project copy with dist/ compiled), or build a complete bundle (npm run bundle)"
fi

# --- unpacking ---------------------------------------------------------------------------
py_unxz='import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))'
py_untar='import sys, tarfile
t = tarfile.open(sys.argv[1])
t.extractall(sys.argv[2], **({"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}))'

decompress() { # file out
  case "$1" in
    *.xz)
      if command -v xz >/dev/null; then xz -dc "$1" >"$2"
      elif command -v python3 >/dev/null; then python3 -c "$py_unxz" "$1" "$2"
      else die "cannot unpack $1: neither xz nor python3 found"; fi ;;
    *.gz) gzip -dc "$1" >"$2" ;;
    *) die "unknown compression: $1" ;;
  esac
}

untar() { # file dir
  case "$1" in
    *.tar.xz)
      if command -v xz >/dev/null; then tar -xJf "$1" -C "$2"
      elif command -v python3 >/dev/null; then python3 -c "$py_untar" "$1" "$2"
      else die "cannot unpack $1: neither xz nor python3 found"; fi ;;
    *.tar.gz) tar -xzf "$1" -C "$2" ;;
    *) die "unknown archive: $1" ;;
  esac
}

verify() { # file sha256
  [ -f "$1" ] || die "$1 missing (copy the whole .bundle/ directory)"
  command -v sha256sum >/dev/null || return 0
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  [ "$got" = "$2" ] || die "$1 is corrupt or stale: sha256 $got, bundle.env says $2 (rebuild or re-copy .bundle/)"
}

cache=${TKNP_BUNDLE_CACHE:-${TMPDIR:-/tmp}/tknp-bundle-$(id -u)}
dir=$cache/$id
mkdir -p "$cache" || die "cannot create the cache dir $cache (set TKNP_BUNDLE_CACHE)"

lock() { # serialises unpacking and library installs between concurrent launches (one per GPU)
  if command -v flock >/dev/null; then exec 9>"$cache/.lock-$id" && flock 9; fi
}
unlock() { if command -v flock >/dev/null; then flock -u 9; exec 9>&-; fi; }

unpack() {
  verify "$here/${B[NODE_FILE]}" "${B[NODE_SHA256]}"
  verify "$here/${B[APP_FILE]}" "${B[APP_SHA256]}"
  say "unpacking bundle $id into $dir"
  local tmp
  tmp=$(mktemp -d "$cache/.unpack-$id.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/bin" "$tmp/app"
  decompress "$here/${B[NODE_FILE]}" "$tmp/bin/node" || die "unpacking ${B[NODE_FILE]} failed"
  chmod 755 "$tmp/bin/node"
  untar "$here/${B[APP_FILE]}" "$tmp/app" || die "unpacking ${B[APP_FILE]} failed"
  rm -rf "$dir"
  mv "$tmp" "$dir"
  trap - EXIT
  touch "$dir/.ready"
}

if [ ! -f "$dir/.ready" ]; then
  lock
  [ -f "$dir/.ready" ] || unpack
  unlock
fi
node=$dir/bin/node

# --- Vulkan loader libraries ---------------------------------------------------------------
sys_ldconfig=$(command -v ldconfig || true)
for c in /sbin/ldconfig /usr/sbin/ldconfig; do
  if [ -z "$sys_ldconfig" ] && [ -x "$c" ]; then sys_ldconfig=$c; fi
done
ldconfig_bin=${TKNP_LDCONFIG:-$sys_ldconfig}

soname_of() { # the library a bundled package provides (how we tell that it is missing)
  case "$1" in
    libvulkan1) echo libvulkan.so.1 ;; libglvnd0) echo libGLdispatch.so.0 ;;
    libegl1) echo libEGL.so.1 ;; libgl1) echo libGL.so.1 ;; libglx0) echo libGLX.so.0 ;;
    libgles2) echo libGLESv2.so.2 ;; libopengl0) echo libOpenGL.so.0 ;; *) echo "" ;;
  esac
}
# The whole listing is read once (a `ldconfig -p | grep -q` pipeline fails under pipefail when
# grep stops reading early).
ld_cache=$( ([ -n "$ldconfig_bin" ] && "$ldconfig_bin" -p 2>/dev/null) || true)
have_lib() { [[ $ld_cache == *"$1 (libc6,x86-64)"* ]]; }

libs_mode=${TKNP_BUNDLE_LIBS:-auto}
case "$libs_mode" in auto | system | private | none) ;; *) die "TKNP_BUNDLE_LIBS=$libs_mode: expected auto, system, private or none" ;; esac
debs=()
if [ "$libs_mode" != none ] && [ -d "$here/debs" ]; then
  for deb in "$here"/debs/*.deb; do
    [ -f "$deb" ] || continue
    pkg=$(basename "$deb"); pkg=${pkg%%_*}; so=$(soname_of "$pkg")
    if [ -z "$so" ] || ! have_lib "$so"; then debs+=("$deb"); fi
  done
fi
if [ ${#debs[@]} -gt 0 ]; then
  command -v dpkg-deb >/dev/null || die "dpkg-deb is needed to unpack the Vulkan loader packages"
  names=$(for d in "${debs[@]}"; do b=$(basename "$d"); echo -n "${b%%_*} "; done)
  if [ "$libs_mode" = system ] || { [ "$libs_mode" = auto ] && [ "$(id -u)" = 0 ]; }; then
    [ "$(id -u)" = 0 ] || die "TKNP_BUNDLE_LIBS=system needs root"
    say "installing Vulkan loader packages into /: $names"
    lock
    for d in "${debs[@]}"; do dpkg-deb -x "$d" /; done
    [ -n "$sys_ldconfig" ] || die "no ldconfig found to register the installed libraries"
    "$sys_ldconfig"
    unlock
    ld_cache=$("$sys_ldconfig" -p 2>/dev/null || true)
    have_lib libvulkan.so.1 || say "warning: ldconfig still finds no libvulkan.so.1"
  else
    sysroot=$dir/sysroot
    lock
    for d in "${debs[@]}"; do
      mark=$sysroot/.$(basename "$d")
      [ -f "$mark" ] || { mkdir -p "$sysroot" && dpkg-deb -x "$d" "$sysroot" && touch "$mark"; }
    done
    unlock
    say "using private Vulkan loader packages: $names"
    export LD_LIBRARY_PATH="$sysroot/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
fi

# --- Vulkan driver (ICD), runtime dir, PATH ----------------------------------------------------
if [ -n "${VK_DRIVER_FILES:-}" ]; then
  say "Vulkan driver: $VK_DRIVER_FILES (VK_DRIVER_FILES from the environment)"
elif [ -n "${VK_ICD_FILENAMES:-}" ]; then
  say "Vulkan driver: $VK_ICD_FILENAMES (VK_ICD_FILENAMES from the environment)"
else
  icd=""
  IFS=: read -ra cands <<<"${TKNP_NVIDIA_ICD_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json:/usr/share/vulkan/icd.d/nvidia_icd.json}"
  for c in "${cands[@]}"; do
    if [ -z "$icd" ] && [ -f "$c" ]; then icd=$c; fi
  done
  if [ -n "$icd" ]; then
    export VK_DRIVER_FILES=$icd
    say "Vulkan driver: $icd (VK_DRIVER_FILES)"
  else
    found=$(ls /usr/local/share/vulkan/icd.d/*.json /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json 2>/dev/null | tr '\n' ' ' || true)
    say "Vulkan driver: no NVIDIA ICD; loader default search finds: ${found:-nothing}"
  fi
fi

if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "$XDG_RUNTIME_DIR" ] || [ ! -w "$XDG_RUNTIME_DIR" ]; then
  export XDG_RUNTIME_DIR=$cache/xdg-runtime
  mkdir -p -m 700 "$XDG_RUNTIME_DIR"
fi
export PATH="$dir/bin:$PATH"
export TKNP_CALLER_DIR=$PWD

# --- the project root and the command ----------------------------------------------------------
root=$dir/app
if [ -n "$tree" ]; then
  root=$(cd "$tree" 2>/dev/null && pwd) || die "--tree $tree: not a directory"
  if [ -L "$root/node_modules" ] || [ ! -e "$root/node_modules" ]; then
    ln -sfn "$dir/app/node_modules" "$root/node_modules"
  fi
  # Native builds are git-ignored, so a copied tree may lack them: use the bundle's.
  if [ ! -e "$root/native-vk-select/build/VkLayer_tknp_vk_select.json" ] && [ -e "$dir/app/native-vk-select/build/VkLayer_tknp_vk_select.json" ]; then
    export TKNP_VK_SELECT_DIR="$dir/app/native-vk-select/build"
  fi
  if [ ! -e "$root/native-nccl/build/Release/tknp_nccl.node" ] && [ -e "$dir/app/native-nccl/build/Release/tknp_nccl.node" ]; then
    export TKNP_NCCL_ADDON="$dir/app/native-nccl/build/Release/tknp_nccl.node"
  fi
fi
cd "$root"

doctor_js='const { pathToFileURL } = await import("node:url");
const { Gpu } = await import(pathToFileURL(process.cwd() + "/dist/src/gpu/gpu.js").href);
const caps = (await Gpu.create()).caps;
const sm = caps.subgroupMatrix.map((m) => `${m.componentType}->${m.resultComponentType} M${m.M} N${m.N} K${m.K}`);
console.log(JSON.stringify({ ...caps, subgroupMatrix: sm }, null, 1));
process.exit(0);'

case "${1:-}" in
  test) shift; exec "$node" node_modules/vitest/vitest.mjs run "$@" ;;
  node) shift; exec "$node" "$@" ;;
  tsc)
    shift
    [ -f node_modules/typescript/bin/tsc ] || die "this bundle has no typescript: build it with --with-tsc, or compile here and carry dist/"
    exec "$node" node_modules/typescript/bin/tsc "$@" ;;
  doctor)
    say "node $("$node" --version) in $root; LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
    exec "$node" --input-type=module -e "$doctor_js" ;;
  *) exec "$node" dist/src/cli/main.js "$@" ;;
esac
