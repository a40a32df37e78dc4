#!/usr/bin/env bash
# Everything tknp proves on the offline GPU host, in stages, results under $OUT (at most 8
# files come back from the device tool). Prepare here: `npm run bundle -- --lean` and
# `npx tsc -p tsconfig.json`, then in one device call (carry .bundle, dist and native-nccl/build):
#   bash tools/gpu_host_run.sh tests bench decode
# Stages: probe (PROBE_FILTER, PROBE_CASES, PROBE_ROBUST) | prefill-ablation (ABLATIONS) | decode-profile | decode-cpuprof | tests | tests-plain (engine tests with tensor cores off: isolates a failing
# subgroup-matrix kernel) | bench | bench-quick | linear-sweep | decode | decode-peer (DECODE_CASES) | tknp | nccl | comm (env WORLD, COMM). Each stage writes one log and
# prints a one-line summary; a failing stage does not stop the others.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/tknp-out}
mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0
# Each stage's commands end after STAGE_TIMEOUT seconds, so one slow stage cannot eat a device
# call's whole time limit.
B=(timeout "${STAGE_TIMEOUT:-900}" bash .bundle/run.sh --tree .)
T0=$SECONDS
summary() { echo "[gpu_host_run] $1 (+$((SECONDS - T0)) s): $2" | tee -a "$OUT/summary.txt"; }
# The vitest summary line of a log ("Tests  N passed | ..."), without colour codes.
tests_line() { sed 's/\x1b\[[0-9;]*m//g' "$1" | grep -aE 'Tests +[0-9]' | tail -1; }

"${B[@]}" doctor > "$OUT/doctor.txt" 2>&1 || true
for stage in "$@"; do
  case "$stage" in
    tests)
      "${B[@]}" test ${TEST_FILES:-} > "$OUT/tests.log" 2>&1
      summary tests "exit $? — $(tests_line "$OUT/tests.log")"
      ;;
    tests-plain)
      TKNP_NO_SUBGROUP_MATRIX=1 "${B[@]}" test test/engine test/parallel/token_parallel.test.ts > "$OUT/tests-plain.log" 2>&1
      summary tests-plain "exit $? — $(tests_line "$OUT/tests-plain.log")"
      ;;
    bench | bench-quick)
      # BENCH_FILTER: a --filter regex (several device calls can split the full sweep).
      filter=(); [ "$stage" = bench-quick ] && filter=(--filter 'decode_attention|linear|prefill')
      [ -n "${BENCH_FILTER:-}" ] && filter=(--filter "$BENCH_FILTER")
      "${B[@]}" bench kernels --sweep full "${filter[@]}" --list-cases "$OUT/cases.json" > /dev/null 2>&1
      python3 tools/bench_pytorch.py --cases "$OUT/cases.json" --out "$OUT/baseline.json" > "$OUT/pytorch.log" 2>&1
      "${B[@]}" bench kernels --sweep full "${filter[@]}" --baseline "$OUT/baseline.json" --json "$OUT/report.json" --html "$OUT/report.html" --markdown "$OUT/report.md" > "$OUT/bench.log" 2>&1
      summary "$stage" "exit $? — $(tail -1 "$OUT/bench.log")"
      rm -f "$OUT/cases.json" "$OUT/pytorch.log"
      ;;
    linear-sweep)
      # Issue 15: every projection of Llama-3-8B and Qwen2.5-7B over M = 1..512 (18 values), default
      # and fast mode, validated and timed, torch.matmul baselines; the report checks the issue's
      # rules (no step up between neighbouring M, ratios to torch, fast never slower) and charts
      # time against M per projection. SWEEP_FILTER: a --filter regex over the shapes.
      filter=(); [ -n "${SWEEP_FILTER:-}" ] && filter=(--filter "$SWEEP_FILTER")
      "${B[@]}" bench kernels --sweep linear-m "${filter[@]}" --list-cases "$OUT/sweep_cases.json" > /dev/null 2>&1
      timeout "${PEER_TIMEOUT:-300}" python3 tools/bench_pytorch.py --cases "$OUT/sweep_cases.json" --out "$OUT/linear_sweep_torch.json" --target-ms 50 > "$OUT/linear_sweep_torch.log" 2>&1
      summary linear-sweep-torch "exit $? — $(grep -ac ' us ' "$OUT/linear_sweep_torch.log") cases timed"
      base=(); [ -s "$OUT/linear_sweep_torch.json" ] && base=(--baseline "$OUT/linear_sweep_torch.json")
      "${B[@]}" bench kernels --sweep linear-m "${filter[@]}" "${base[@]}" --json "$OUT/linear_sweep.json" --html "$OUT/linear_sweep.html" --markdown "$OUT/linear_sweep.md" > "$OUT/linear_sweep.log" 2>&1
      summary linear-sweep "exit $? — $(tail -1 "$OUT/linear_sweep.log"); $(grep -a '^target .*linear M sweep' "$OUT/linear_sweep.log" | cut -c1-260 | tr '\n' ' ')"
      rm -f "$OUT/sweep_cases.json"
      ;;
    probe)
      # Tensor-core ceilings and GEMM candidates (bench/probes/sgmat_ceiling.ts), then a few
      # bench cases timed once each, both with Dawn's robustness on and off (TKNP_ROBUSTNESS).
      cases=${PROBE_CASES:-'^(B64 Hq32 Hkv8 D128 ctx4096|B1 Hq32 Hkv8 D128 ctx32768|M1 K4096 N28672( fast)?|M16 K4096 N28672|M4096 K4096 N6144|8192 Hq32 Hkv8 D128 causal)$'}
      for nr in ${PROBE_ROBUST:-0 1}; do  # robustness off, then on
        TKNP_ROBUSTNESS=$nr "${B[@]}" node dist/bench/probes/sgmat_ceiling.js "${PROBE_FILTER:-.}" > "$OUT/probe_sgmat_robust$nr.log" 2>&1
        summary "probe-sgmat-robust$nr" "exit $?"
        TKNP_ROBUSTNESS=$nr "${B[@]}" node dist/bench/probes/timing_stability.js 1 "$cases" > "$OUT/probe_cases_robust$nr.log" 2>&1
        summary "probe-cases-robust$nr" "exit $?"
      done
      ;;
    prefill-ablation)
      # Where the tensor-core prefill attention's time goes: text-edited variants of the shipped
      # shader timed on the 8k causal prompt (bench/probes/prefill_ablation.ts; ABLATIONS selects).
      "${B[@]}" node dist/bench/probes/prefill_ablation.js ${ABLATIONS:-} > "$OUT/prefill_ablation.log" 2>&1
      summary prefill-ablation "exit $?"
      ;;
    decode-tknp)
      # Item 8 of the token-parallel issue: per-step split (root compute, scatter, attention per
      # rank, gather) with every rank on this one GPU over sockets; Llama-3-8B shapes.
      for n in 1 2 4; do
        "${B[@]}" bench decode --preset llama-3-8b --tknp "$n" --comm socket --kv-cache-memory 8 --batch 16,64 --context 4096 --steps 8 --prefill skip --profile --json "$OUT/decode_tknp$n.json" > "$OUT/decode_tknp$n.log" 2>&1
        summary "decode-tknp$n" "exit $? — $(grep -a 'tokens/s' "$OUT/decode_tknp$n.log" | tail -2 | tr '\n' ' ')"
      done
      ;;
    decode-profile)
      # GPU time per kernel of a decode step (one rank; one timed pass per dispatch, so steps run slower).
      "${B[@]}" bench decode --preset llama-3-8b --batch ${DECODE_BATCH:-1,64} --context 4096 --steps 4 --prefill skip --profile --json "$OUT/decode_profile.json" > "$OUT/decode_profile.log" 2>&1
      summary "$stage" "exit $? — $(grep -a 'rank 0:' "$OUT/decode_profile.log" | tail -2 | cut -c1-300 | tr '\n' ' ')"
      ;;
    decode-cpuprof)
      # Where the CPU time of a decode step goes (node --cpu-prof, one rank), summarised by
      # tools/cpuprof_summary.py; then the bare cost of a dispatch (bench/probes/record_cost.ts).
      batches=${DECODE_BATCH:-1,64}
      for b in ${batches//,/ }; do
        rm -rf "$OUT/prof"
        "${B[@]}" node --cpu-prof --cpu-prof-dir="$OUT/prof" dist/src/cli/main.js bench decode --preset llama-3-8b --batch "$b" --context 4096 --steps 32 --prefill skip ${DECODE_ARGS:-} > "$OUT/cpuprof-b$b.txt" 2>&1
        python3 tools/cpuprof_summary.py "$OUT"/prof/*.cpuprofile 'forward llama.js' 40 >> "$OUT/cpuprof-b$b.txt" 2>&1
        summary "decode-cpuprof b$b" "exit $? — $(grep -a 'CPU ms' "$OUT/cpuprof-b$b.txt" | tr '\n' ' ')"
        rm -rf "$OUT/prof"
      done
      "${B[@]}" node dist/bench/probes/record_cost.js 50 > "$OUT/record_cost.txt" 2>&1
      summary record-cost "$(tail -1 "$OUT/record_cost.txt")"
      ;;
    decode | decode-fast)
      # The whole engine on Llama-3-8B shapes; decode-fast: --fast (GEMV for <= 8 rows, not batch invariant).
      # DECODE_ARGS: more options, e.g. '--submit-every-layers 4'; DECODE_TAG names that run's files.
      fast=(); [ "$stage" = decode-fast ] && fast=(--fast)
      name=$stage${DECODE_TAG:+-$DECODE_TAG}
      "${B[@]}" bench decode --preset llama-3-8b --batch ${DECODE_BATCH:-1,16,64,256} --context 4096 --steps 16 --prefill skip "${fast[@]}" ${DECODE_ARGS:-} --json "$OUT/$name.json" > "$OUT/$name.log" 2>&1
      summary "$name" "exit $? — $(grep -a 'tokens/s\|CPU ms' "$OUT/$name.log" | grep -v '^batch' | tr '\n' ' ' | cut -c1-500)"
      ;;
    decode-peer)
      # Issue 15: tknp's decode beside its PyTorch peer (tools/bench_decode_pytorch.py: the same preset
      # and cases as one f16 CUDA graph per step; a transformers generate row; eager prefill time to
      # first token), tknp in default mode (with --ttft) and with --fast. Cases: DECODE_CASES
      # (BATCHxCONTEXT,...), else DECODE_BATCH at DECODE_CONTEXT (4096), else the issue's set.
      cases=${DECODE_CASES:-1x4096,16x4096,64x4096,96x4096,128x4096,256x1024,1x32768}
      if [ -z "${DECODE_CASES:-}" ] && [ -n "${DECODE_BATCH:-}" ]; then
        cases=$(for b in ${DECODE_BATCH//,/ }; do printf '%sx%s,' "$b" "${DECODE_CONTEXT:-4096}"; done); cases=${cases%,}
      fi
      # The same token budget in both modes (--ttft 4096 needs it), so both get the same KV capacity.
      common=(bench decode --preset "${DECODE_PRESET:-llama-3-8b}" --cases "$cases" --steps 16 --prefill skip --max-num-batched-tokens 4096)
      "${B[@]}" "${common[@]}" --ttft 4096 --list-cases "$OUT/decode_cases.json" > "$OUT/decode_peer.log" 2>&1
      timeout "${PEER_TIMEOUT:-300}" python3 tools/bench_decode_pytorch.py --cases "$OUT/decode_cases.json" --out "$OUT/decode_peer.json" ${PEER_ARGS:-} >> "$OUT/decode_peer.log" 2>&1
      summary decode-peer-pytorch "exit $? — $(grep -a '^batch\|^prefill\|^transformers' "$OUT/decode_peer.log" | sed 's/ (.*//' | tr '\n' ';' | cut -c1-700)"
      base=(--copy-gbps "${COPY_GBPS:-2856}"); [ -s "$OUT/decode_peer.json" ] && base=(--baseline "$OUT/decode_peer.json")
      for mode in default fast; do
        extra=(--ttft 4096); [ $mode = fast ] && extra=(--fast)
        "${B[@]}" "${common[@]}" "${extra[@]}" "${base[@]}" ${DECODE_ARGS:-} --json "$OUT/decode_peer_$mode.json" --markdown "$OUT/decode_peer_$mode.md" --html "$OUT/decode_peer_$mode.html" > "$OUT/decode_peer_$mode.log" 2>&1
        summary "decode-peer-$mode" "exit $? — $(grep -a '^compare:\|^Time to first' "$OUT/decode_peer_$mode.log" | tr '\n' ' ' | cut -c1-900)"
      done
      rm -f "$OUT/decode_cases.json"
      ;;
    tknp)
      # Token parallelism with every rank on this one GPU over sockets (NCCL cannot put two
      # ranks of a communicator on one GPU): greedy outputs must equal tknp=1's.
      for n in 1 2 4; do
        "${B[@]}" generate --model test/fixtures/models/tiny-llama --tknp "$n" --comm socket --json -q -n 32 --temperature 0 --ignore-eos \
          -p 'The quick brown fox' -p 'Once upon a time' -p 'A' > "$OUT/tknp$n.jsonl" 2>> "$OUT/tknp.log"
      done
      if cmp -s "$OUT/tknp1.jsonl" "$OUT/tknp2.jsonl" && cmp -s "$OUT/tknp1.jsonl" "$OUT/tknp4.jsonl"; then summary tknp "tknp 2 and 4 identical to tknp 1"; else summary tknp "DIFFERENT outputs"; fi
      ;;
    comm)
      # Host-staged collectives through tknp's communicator (WORLD ranks, COMM backend); with one
      # GPU only sockets can have several ranks. Multi-GPU: add torchrun's device-side numbers.
      "${B[@]}" bench comm --world "${WORLD:-2}" --comm "${COMM:-socket}" --json "$OUT/comm.json" > "$OUT/comm.log" 2>&1
      summary comm "exit $?"
      if [ "${WORLD:-2}" -le "$(nvidia-smi -L 2>/dev/null | wc -l)" ]; then
        torchrun --nproc_per_node "${WORLD:-2}" tools/bench_comm_pytorch.py --out "$OUT/comm_torch.json" >> "$OUT/comm.log" 2>&1
        summary comm-torch "exit $?"
      fi
      ;;
    nccl)
      "${B[@]}" test test/parallel/nccl.test.ts > "$OUT/nccl.log" 2>&1
      summary nccl "exit $? — $(tests_line "$OUT/nccl.log")"
      ;;
    *) summary "$stage" "unknown stage" ;;
  esac
done

# The device tool returns at most 8 files: pack everything but the summary when there are more.
n=$(find "$OUT" -maxdepth 1 -type f | wc -l)
if [ "$n" -gt 7 ]; then
  (cd "$OUT" && tar czf results.tgz --exclude summary.txt --exclude results.tgz ./* && find . -maxdepth 1 -type f ! -name summary.txt ! -name results.tgz -delete)
fi
