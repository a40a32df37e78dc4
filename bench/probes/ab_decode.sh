#!/usr/bin/env bash
# Probe: the engine's decode throughput of two builds on one machine, interleaved (GPU hosts differ
# between device calls, so only same-machine pairs compare). The other build is a directory with its
# own dist/, shaders/ and package.json (e.g. `git worktree add /tmp/old REV`, `npx tsc` there, copy
# those three into .ab-old/ here); it runs with this tree's node_modules.
# Usage (GPU host, repo root): OUT=dir AB_OLD=.ab-old [AB_BATCH=1,64] [AB_ROUNDS=2] [AB_ARGS="--quantization int4"]
#   bash bench/probes/ab_decode.sh
set -uo pipefail
OUT=${OUT:-/tmp/ab}; OLD=${AB_OLD:-.ab-old}
mkdir -p "$OUT"
args=(bench decode --preset llama-3-8b --batch "${AB_BATCH:-1,64}" --context 4096 --steps 16 --prefill skip ${AB_ARGS:-})
for r in $(seq "${AB_ROUNDS:-2}"); do
  for v in new old; do
    if [ "$v" = new ]; then
      bash .bundle/run.sh --tree . "${args[@]}" > "$OUT/ab-$v-$r.log" 2>&1
    else
      TKNP_SHADER_DIR="$PWD/$OLD/shaders" bash .bundle/run.sh --tree . node "$OLD/dist/src/cli/main.js" "${args[@]}" > "$OUT/ab-$v-$r.log" 2>&1
    fi
    echo "[ab] $v round $r: $(grep -a 'tokens/s\|CPU ms' "$OUT/ab-$v-$r.log" | grep -v '^batch' | tr '\n' ' ' | cut -c1-400)" | tee -a "$OUT/summary.txt"
  done
done
