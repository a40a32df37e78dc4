#!/usr/bin/env bash
# Everything tknp proves on the offline GPU host, in stages, results under $OUT (at most 8
# files come back from the device tool). Prepare here: `npm run bundle -- --lean` and
# `npx tsc -p tsconfig.json`, then in one device call (carry .bundle, dist and native-nccl/build):
#   bash tools/gpu_host_run.sh tests bench decode
# Stages: i8-probe | linear-tiles (TILES_SHAPES, TILES_M, TILES) | quant-probe (QPROBE_SHAPES, QPROBE_M, QPROBE_VARIANTS, QPROBE_FORMATS) | probe (PROBE_FILTER, PROBE_CASES, PROBE_ROBUST) | prefill-ablation (ABLATIONS) | decode-profile | decode-cpuprof | tests | tests-plain (engine tests with tensor cores off: isolates a failing
# subgroup-matrix kernel) | bench | bench-quick | linear-sweep | decode | decode-peer (DECODE_CASES) | serve-bench (SERVE_RATES, SERVE_PROMPTS, SERVE_INPUT, SERVE_OUTPUT) | prefix-bench (PREFIX_TKNP, PREFIX_SHARED, PREFIX_INPUT, PREFIX_OUTPUT, PREFIX_PROMPTS, PREFIX_RATES, PREFIX_CONC) | quant-quality (QUANTS, PPL_ARGS) | quant-decode (QDEC_CASES, QUANTS, QDEC_W8A8_CASES, QDEC_PROFILES, QDEC_STEPS, QDEC_WARMUP) | tknp | nccl | comm (env WORLD, COMM). Each stage writes one log and
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
# Waits (up to 180 s) until the tknp server on port $1 answers /health with 200; fails as soon as its
# process ($2) is gone.
server_up() {
  for _ in $(seq 1 180); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET /health HTTP/1.0\r\n\r\n' >&3 && grep -q ' 200 ' <&3) 2>/dev/null; then return 0; fi
    kill -0 "$2" 2>/dev/null || return 1
    sleep 1
  done
  return 1
}
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
    linear-tiles)
      # The tensor-core linear schedules side by side over M on Llama-3-8B and Qwen2.5-7B shapes, with
      # torch.matmul over the same grid (bench/probes/linear_tiles.ts; TILES_SHAPES, TILES_M, TILES select).
      LINEAR_TILES_JSON="$OUT/linear_tiles.jsonl" "${B[@]}" node dist/bench/probes/linear_tiles.js "${TILES_SHAPES:-.}" ${TILES_M:-} ${TILES:-} > "$OUT/linear_tiles.log" 2>&1
      summary linear-tiles "exit $? — $(grep -c 'WRONG\|BITS\|ERROR' "$OUT/linear_tiles.log") bad cells"
      LINEAR_TILES_TORCH_JSON="$OUT/linear_tiles_torch.jsonl" timeout "${STAGE_TIMEOUT:-900}" python3 bench/probes/linear_tiles_torch.py "${TILES_SHAPES:-.}" ${TILES_M:-} > "$OUT/linear_tiles_torch.log" 2>&1
      summary linear-tiles-torch "exit $?"
      ;;
    i8-probe)
      # How this Dawn counts the offset and stride of i8 subgroup-matrix loads from array<i32> (bytes or
      # words), operand and result layouts (bench/probes/i8_subgroup_matrix.ts; seconds): the w8a8 fix.
      # The probe's own self-test first (the kernel's byte assumption emulated in plain WGSL must explain every case).
      "${B[@]}" node dist/bench/probes/i8_subgroup_matrix.js --emulate > "$OUT/i8_probe_selftest.log" 2>&1
      summary i8-probe-selftest "exit $?"
      "${B[@]}" node dist/bench/probes/i8_subgroup_matrix.js > "$OUT/i8_probe.log" 2>&1
      summary i8-probe "exit $? — $(grep -a '^verdict\|^i8-probe\|unexplained\|COMPILE ERROR' "$OUT/i8_probe.log" | cut -c1-300 | tr '\n' ' ')"
      ;;
    quant-probe)
      # Issue 17: the quantized decode weight stream (bench/probes/quant_probe.ts): the shipped quantized plan,
      # wide-load (16-byte) stream and GEMV variants and the f16 kernel at Llama-3-8B shapes, int4 g128 and
      # int8 per channel, M = 1-16, each validated (CPU reference / bits of the shipped plan) then timed.
      # QPROBE_SHAPES (regex), QPROBE_M, QPROBE_VARIANTS, QPROBE_FORMATS select.
      QUANT_PROBE_JSON="$OUT/quant_probe.jsonl" "${B[@]}" node dist/bench/probes/quant_probe.js "${QPROBE_SHAPES:-.}" "${QPROBE_M:-}" "${QPROBE_VARIANTS:-}" "${QPROBE_FORMATS:-}" > "$OUT/quant_probe.log" 2>&1
      summary quant-probe "exit $? — $(grep -c 'WRONG\|BITS\|ERROR' "$OUT/quant_probe.log") bad cells; $(grep -a '^layer .* M1:' "$OUT/quant_probe.log" | cut -c1-400 | tr '\n' ' ')"
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
      "${B[@]}" bench decode --preset llama-3-8b --batch ${DECODE_BATCH:-1,64} --context ${DECODE_CONTEXT:-4096} --steps 4 --prefill skip --profile --json "$OUT/decode_profile.json" > "$OUT/decode_profile.log" 2>&1
      summary "$stage" "exit $? — $(grep -a 'rank 0:' "$OUT/decode_profile.log" | tail -2 | cut -c1-300 | tr '\n' ' ')"
      ;;
    decode-cpuprof)
      # Where the CPU time of a decode step goes (node --cpu-prof, one rank), summarised by
      # tools/cpuprof_summary.py within ModelRunner.recordForward (recorded and replayed steps; with
      # DECODE_ARGS=--enforce-eager every step is recorded); then the bare cost of a dispatch
      # (bench/probes/record_cost.ts).
      batches=${DECODE_BATCH:-1,64}
      for b in ${batches//,/ }; do
        rm -rf "$OUT/prof"
        "${B[@]}" node --cpu-prof --cpu-prof-dir="$OUT/prof" dist/src/cli/main.js bench decode --preset llama-3-8b --batch "$b" --context 4096 --steps 32 --prefill skip ${DECODE_ARGS:-} > "$OUT/cpuprof-b$b${DECODE_TAG:+-$DECODE_TAG}.txt" 2>&1
        python3 tools/cpuprof_summary.py "$OUT"/prof/*.cpuprofile 'recordForward model_runner.js' 40 >> "$OUT/cpuprof-b$b${DECODE_TAG:+-$DECODE_TAG}.txt" 2>&1
        summary "decode-cpuprof${DECODE_TAG:+-$DECODE_TAG} b$b" "exit $? — $(grep -a 'CPU ms' "$OUT/cpuprof-b$b${DECODE_TAG:+-$DECODE_TAG}.txt" | tr '\n' ' ')"
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
      "${B[@]}" bench decode --preset llama-3-8b --batch ${DECODE_BATCH:-1,16,64,256} --context ${DECODE_CONTEXT:-4096} --steps 16 --prefill skip "${fast[@]}" ${DECODE_ARGS:-} --json "$OUT/$name.json" > "$OUT/$name.log" 2>&1
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
    quant-decode)
      # Issue 17's speed table in one stage: the PyTorch f16 peer (tools/bench_decode_pytorch.py) for QDEC_CASES,
      # then tknp's f16 engine and each format of QUANTS against it (`--baseline`), default mode and --fast; then
      # --profile runs (QDEC_PROFILES: FORMAT[-fast]:CASE …; default f16 and int4 at batch 1, int4 --fast, f16 and
      # W8A8 at 256 × 1024). W8A8 runs only its large-batch cases (QDEC_W8A8_CASES). One JSON and log per run.
      qcases=${QDEC_CASES:-1x4096,16x4096,256x1024}
      qcommon=(bench decode --preset "${DECODE_PRESET:-llama-3-8b}" --steps "${QDEC_STEPS:-16}" --warmup "${QDEC_WARMUP:-2}" --prefill skip --max-num-batched-tokens 4096)
      "${B[@]}" "${qcommon[@]}" --cases "$qcases" --list-cases "$OUT/qdec_cases.json" > "$OUT/qdec_peer.log" 2>&1
      timeout "${PEER_TIMEOUT:-300}" python3 tools/bench_decode_pytorch.py --cases "$OUT/qdec_cases.json" --out "$OUT/qdec_peer.json" --skip generate,prefill ${PEER_ARGS:-} >> "$OUT/qdec_peer.log" 2>&1
      summary quant-decode-peer "exit $? — $(grep -a '^batch' "$OUT/qdec_peer.log" | sed 's/ (.*//' | tr '\n' ';' | cut -c1-400)"
      qbase=(); [ -s "$OUT/qdec_peer.json" ] && qbase=(--baseline "$OUT/qdec_peer.json")
      for q in none ${QUANTS:-int4 int8 w8a8}; do
        c=$qcases; [ "$q" = w8a8 ] && c=${QDEC_W8A8_CASES:-256x1024}
        for mode in default fast; do
          extra=(); [ $mode = fast ] && extra=(--fast)
          "${B[@]}" "${qcommon[@]}" --cases "$c" --quantization "$q" "${extra[@]}" "${qbase[@]}" --json "$OUT/qdec_${q}_$mode.json" > "$OUT/qdec_${q}_$mode.log" 2>&1
          summary "quant-decode $q $mode" "exit $? — $(grep -a '^compare:\|CPU ms' "$OUT/qdec_${q}_$mode.log" | tr '\n' ' ' | cut -c1-500)"
        done
      done
      # GPU time per kernel (--profile) for each FORMAT[-fast]:CASE of QDEC_PROFILES.
      for pc in ${QDEC_PROFILES:-none:1x4096 int4:1x4096 int4-fast:1x4096 none:256x1024 w8a8:256x1024}; do
        q=${pc%%:*}; extra=(); [ "${q%-fast}" != "$q" ] && extra=(--fast) && q=${q%-fast}
        log="$OUT/qdec_profile_${pc//[:x]/_}.log"
        "${B[@]}" "${qcommon[@]}" --cases "${pc#*:}" --quantization "$q" "${extra[@]}" --profile > "$log" 2>&1
        summary "quant-decode profile $pc" "exit $? — $(grep -a 'rank 0:' "$log" | tail -1 | cut -c1-300)"
      done
      rm -f "$OUT/qdec_cases.json"
      ;;
    quant-quality)
      # Issue 17: perplexity of the embedded default model on its held-out text (bench/data/heldout_default.u16,
      # made by tools/dump_heldout.py) for each weight format of QUANTS ('none': the f16 checkpoint), then one
      # Markdown table against f16 (tools/quality_table.py; targets int8 <= +1 %, int4 <= +5 %). A format this
      # build refuses shows its error line in the table. PPL_ARGS: more options (e.g. '--max-windows 8').
      quants=${QUANTS:-none int8 int4 w8a8}
      for q in $quants; do
        flag=(); [ "$q" != none ] && flag=(--quantization "$q")
        rm -f "$OUT/ppl_$q.json"
        "${B[@]}" bench perplexity "${flag[@]}" ${PPL_ARGS:-} --json "$OUT/ppl_$q.json" > "$OUT/ppl_$q.log" 2>&1
        summary "quant-quality-$q" "exit $? — $(grep -a '^mean NLL\|Error\|Unknown arg' "$OUT/ppl_$q.log" | tail -1 | cut -c1-300)"
      done
      python3 tools/quality_table.py --dir "$OUT" --formats "$quants" --meta bench/data/heldout_default.json > "$OUT/quant_quality.md" 2> "$OUT/quant_quality.err"
      summary quant-quality "exit $? — $(grep -a '^| ' "$OUT/quant_quality.md" | grep -v '^| format' | cut -d'|' -f2-5 | tr '\n' ';' | cut -c1-700)"
      [ -s "$OUT/quant_quality.err" ] || rm -f "$OUT/quant_quality.err"
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
    serve-bench)
      # `tknp serve` with Llama-3-8B-shaped dummy weights (--preset, no checkpoint), driven by
      # `tknp bench serve` at three Poisson request rates (SERVE_RATES) with synthetic prompts of
      # SERVE_INPUT tokens generating SERVE_OUTPUT tokens (EOS ignored). About 2-3 minutes.
      port=${SERVE_PORT:-18765}
      "${B[@]}" serve --preset llama-3-8b --load-format dummy --port "$port" --max-model-len 4096 --max-num-seqs 256 \
        --kv-cache-memory "${SERVE_KV_GIB:-16}" --no-log-requests ${SERVE_ARGS:-} > "$OUT/serve.log" 2>&1 &
      spid=$!
      if server_up "$port" "$spid"; then
        timeout 300 bash .bundle/run.sh --tree . bench serve --url "http://127.0.0.1:$port" --num-prompts "${SERVE_PROMPTS:-64}" --input-len "${SERVE_INPUT:-512}" \
          --output-len "${SERVE_OUTPUT:-128}" --request-rate "${SERVE_RATES:-2,8,32}" --json "$OUT/serve_bench.json" --markdown "$OUT/serve_bench.md" > "$OUT/serve_bench.log" 2>&1
        summary serve-bench "exit $? — $(sed '/^$/q' "$OUT/serve_bench.log" | grep -a '^| [0-9i]' | cut -d'|' -f2,4,6,7,9,10 | tr '\n' ' ')"
      else
        summary serve-bench "the server did not come up: $(tail -3 "$OUT/serve.log" | tr '\n' ' ')"
      fi
      kill -INT "$spid" 2>/dev/null
      wait "$spid"
      ;;
    prefix-bench)
      # Issue 19: automatic prefix caching on a 2,000-token shared system prompt with 200-token user
      # turns (PREFIX_SHARED, PREFIX_INPUT; Llama-3-8B shapes, dummy weights). `tknp serve` at tknp 1
      # and 2 (PREFIX_TKNP; ranks on this one GPU over sockets), each with and without the cache, driven
      # by `tknp bench serve --shared-prefix-len` one request at a time (PREFIX_CONC, PREFIX_RATES: TTFT
      # without queueing); the warm-up request puts the system prompt in the cache, so with it every
      # timed request is a hit. Per run: TTFT, cached prompt tokens and prefill tokens computed (from
      # usage.prompt_tokens_details), the server's prefix-cache counters from /metrics; then `bench
      # decode --ttft --ttft-cached-prefix` times the prefill step alone, miss vs hit. About 4 minutes.
      port=${SERVE_PORT:-18765}
      preset=${PREFIX_PRESET:-llama-3-8b}
      shared=${PREFIX_SHARED:-2000}
      input=${PREFIX_INPUT:-200}
      for n in ${PREFIX_TKNP:-1 2}; do
        for cache in on off; do
          tag=prefix_tknp${n}_$cache
          flag=(); [ $cache = off ] && flag=(--no-enable-prefix-caching)
          "${B[@]}" serve --preset "$preset" --load-format dummy --port "$port" --tknp "$n" --comm socket --max-model-len "${PREFIX_MAX_LEN:-4096}" --max-num-seqs 64 \
            --max-num-batched-tokens 4096 --kv-cache-memory "${PREFIX_KV_GIB:-8}" --no-log-requests --stats-interval 0 "${flag[@]}" > "$OUT/$tag.serve.log" 2>&1 &
          spid=$!
          if server_up "$port" "$spid"; then
            timeout 300 bash .bundle/run.sh --tree . bench serve --url "http://127.0.0.1:$port" --num-prompts "${PREFIX_PROMPTS:-24}" --shared-prefix-len "$shared" --input-len "$input" \
              --output-len "${PREFIX_OUTPUT:-16}" --request-rate "${PREFIX_RATES:-inf}" --max-concurrency "${PREFIX_CONC:-1}" --json "$OUT/$tag.json" > "$OUT/$tag.log" 2>&1
            rc=$?
            (exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3 && grep -aE '^(vllm:prefix_cache|tknp:prefix_cache|tknp:prefill_tokens|tknp:kv_blocks_cached)' <&3) >> "$OUT/$tag.log" 2>&1
            summary "$tag" "exit $rc — $(python3 -c 'import json,sys
r = json.load(open(sys.argv[1]))["runs"][0]
t = r["ttftMs"]
print("TTFT ms p50 %.1f p90 %.1f; %s of %d requests hit, %s of %d prompt tokens cached, %s prefill tokens computed" % (t["p50"], t["p90"], r["numHits"], r["completed"], r["totalCachedTokens"], r["totalInputTokens"], r["prefillTokensComputed"]))' "$OUT/$tag.json" 2>&1 | tail -1) $(grep -a '^vllm:prefix_cache' "$OUT/$tag.log" | tr '\n' ' ')"
          else
            summary "$tag" "the server did not come up: $(tail -3 "$OUT/$tag.serve.log" | tr '\n' ' ')"
          fi
          kill -INT "$spid" 2>/dev/null
          wait "$spid"
        done
        if [ -s "$OUT/prefix_tknp${n}_on.json" ] && [ -s "$OUT/prefix_tknp${n}_off.json" ]; then
          summary "prefix-tknp$n" "$(python3 -c 'import json,sys
on, off = (json.load(open(f))["runs"][0] for f in sys.argv[1:3])
print("TTFT p50 without the cache %.1f ms, with it %.1f ms: %.1fx lower (target >= 5x); prefill tokens computed %s -> %s" % (off["ttftMs"]["p50"], on["ttftMs"]["p50"], off["ttftMs"]["p50"] / on["ttftMs"]["p50"], off["prefillTokensComputed"], on["prefillTokensComputed"]))' "$OUT/prefix_tknp${n}_on.json" "$OUT/prefix_tknp${n}_off.json" 2>&1 | tail -1)"
        fi
      done
      "${B[@]}" bench decode --preset "$preset" --cases 1x64 --steps 2 --warmup 1 --prefill skip --max-num-batched-tokens 4096 --kv-cache-memory "${PREFIX_DECODE_KV_GIB:-4}" \
        --ttft $((shared + input)) --ttft-cached-prefix "$shared" --json "$OUT/prefix_decode_ttft.json" > "$OUT/prefix_decode_ttft.log" 2>&1
      summary prefix-decode-ttft "exit $? — $(grep -a '^Time to first token' "$OUT/prefix_decode_ttft.log" | tr '\n' ' ')"
      ;;
    nccl)
      "${B[@]}" test test/parallel/nccl.test.ts > "$OUT/nccl.log" 2>&1
      summary nccl "exit $? — $(tests_line "$OUT/nccl.log")"
      ;;
    *) summary "$stage" "unknown stage" ;;
  esac
done

# The device tool returns at most 8 files: pack everything but the summary (and earlier packs) when there
# are more. Each invocation packs into a new results-N.tgz: a script that calls this several times with one
# $OUT keeps every invocation's files (session 9 lost its decode-peer logs to the next invocation's pack).
n=$(find "$OUT" -maxdepth 1 -type f ! -name 'results*.tgz' | wc -l)
if [ "$n" -gt 7 ]; then
  i=1; while [ -e "$OUT/results-$i.tgz" ]; do i=$((i + 1)); done
  (cd "$OUT" && tar czf "results-$i.tgz" --exclude summary.txt --exclude 'results*.tgz' ./* && find . -maxdepth 1 -type f ! -name summary.txt ! -name 'results*.tgz' -delete)
fi
