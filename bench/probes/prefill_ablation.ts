// Probe (not part of `tknp bench`): where the time of the tensor-core prefill attention goes, by
// ablation. Each variant is a text edit of the shipped shaders/prefill_attention_sgmat.wgsl that
// removes one part of the per-key-tile work; it is compiled from a copy of shaders/ (through
// TKNP_SHADER_DIR) and timed on the 8k causal prompt by prefill_variants.js in a child process.
// Results of an ablated kernel are wrong by design: only its time is read. No profiler on the
// GPU host reads Vulkan kernels, so this is the evidence for where a key tile's time is spent.
// Usage: node dist/bench/probes/prefill_ablation.js [variant ...]   (default: all)
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url)); // dist/bench/probes
const root = join(here, '..', '..', '..');
const shaderName = 'prefill_attention_sgmat.wgsl';
const shipped = readFileSync(join(root, 'shaders', shaderName), 'utf8');

type Edit = (src: string) => string;

// Replaces every match of `re` (global), failing when there is none: an edit that no longer
// applies to the shipped text must not pass for a measurement.
function sub(re: RegExp, to: string): Edit {
  return (src) => {
    const out = src.replace(new RegExp(re.source, re.flags.includes('g') ? re.flags : `${re.flags}g`), to);
    if (out === src) throw new Error(`edit ${re} matches nothing in ${shaderName}`);
    return out;
  };
}
const all =
  (...edits: Edit[]): Edit =>
  (src) =>
    edits.reduce((s, e) => e(s), src);

// Every line of the key-tile loop that does one kind of work, removed or made trivial.
const noQk = sub(/^\s*s = subgroupMatrixMultiplyAccumulate\(q\d.*$/m, '');
const noPv = all(sub(/^\s*o\d = subgroupMatrixMultiplyAccumulate\(pj.*$/m, ''), sub(/^\s*let pj = .*$/m, ''));
const noSoftmax = sub(/i < BK \/ 2u \+ z/, 'i < z');
const noFetch = all(
  sub(/= fetch\(sq, /, '= fakeFetch(sq, '),
  // (the never-taken branch keeps the cache and table bindings in the pipeline's layout)
  (s) =>
    `${s}\nfn fakeFetch(s: Seq, key0: u32, c: u32, lid: u32, isK: bool) -> vec4<u32> {\n` +
    `  if (key0 == 0xffffffffu) { return kCache[lid] + vCache[lid] + vec4<u32>(blockTables[c]); }\n` +
    `  return vec4<u32>(lid, c, key0 >> 4u, 0u);\n}\n`,
);
const noStage = sub(/stageRow\(i \/ D8, i % D8, ([kv])Reg\[c\]\)/, 'if ($1Reg[c].w == 77u) { sKV[lid] = 0h; }');
const noRescale = sub(/sRescale\.x = kt \+ 1u;/, '');

const variants: Record<string, Edit> = {
  shipped: (s) => s,
  'no-qk (S = 0)': noQk,
  'no-pv': noPv,
  'no-mma (qk, pv)': all(noQk, noPv),
  'no-softmax': noSoftmax,
  'no-rescale': noRescale,
  'no-fetch (K/V from registers)': noFetch,
  'no-stage (K/V not to smem)': noStage,
  'mma-only (no softmax/fetch/stage)': all(noSoftmax, noFetch, noStage),
  'skeleton (no mma, no softmax)': all(noQk, noPv, noSoftmax),
};

const wanted = process.argv.slice(2);
const dir = mkdtempSync(join(tmpdir(), 'tknp-ablation-'));
try {
  for (const [name, edit] of Object.entries(variants)) {
    if (wanted.length && !wanted.some((w) => name.startsWith(w))) continue;
    const shaders = join(dir, name.replace(/\W+/g, '_'));
    cpSync(join(root, 'shaders'), shaders, { recursive: true });
    writeFileSync(join(shaders, shaderName), edit(shipped));
    for (const robust of name === 'shipped' ? ['0', '1'] : ['0']) {
      const r = spawnSync(process.execPath, [join(here, 'prefill_variants.js')], {
        env: { ...process.env, TKNP_SHADER_DIR: shaders, TKNP_ROBUSTNESS: robust },
        encoding: 'utf8',
      });
      const lines = (r.stdout ?? '').split('\n');
      const big = lines.find((l) => l.includes('8192 causal'));
      const small = lines.filter((l) => l.includes(' lens ')).map((l) => (/\b(ok|WRONG|FAILED)\b/.exec(l) ?? ['?'])[0]);
      const time = big ? (/([\d.]+ us\s+[\d.]+ TFLOP\/s)/.exec(big)?.[1] ?? big) : `no 8k line (exit ${r.status}) ${(r.stderr ?? '').trim().split('\n').slice(-2).join(' | ')}`;
      const verdict = big ? (/\b(ok|WRONG)\b/.exec(big)?.[1] ?? '?') : '';
      console.log(`${(name + (robust === '1' ? ', robustness on' : '')).padEnd(40)} small: ${small.join(' ') || '-'}  8k: ${verdict} ${time}`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
