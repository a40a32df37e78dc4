// Probe (seconds; not part of `tknp bench`): how does this Dawn load i8 subgroup matrices from array<i32>?
// shaders/w8a8_linear_sgm.wgsl assumes offsets and strides count bytes (one i8 element each); Dawn's tint
// (commit 9361310a57, 2026-06-29) makes the template spelling `subgroupMatrixLoad<T, row_major>(p, offset,
// stride)` count elements of the array (i32 words) instead, the bool spelling still counting bytes. Each
// case loads a 16×32 A and a 32×16 B (i8 → i32, M16 N16 K32) from known bytes in storage or workgroup memory,
// row- or column-major, at several offsets and strides, and the CPU says which hypothesis (offset and stride
// in bytes or words; operand transposed or not; result transposed or not) gives the result read back
// (bench/probes/i8_subgroup_matrix_model.ts). One line per case, then one per hypothesis, then the verdict
// for w8a8_linear_sgm's layout. On a device without i8 16x16x32 subgroup matrices it says so and exits 0;
// `--emulate` runs the kernel's byte assumption in plain WGSL instead (a self-test of the probe: every case
// must then match "offset bytes, stride bytes" for A and B, else exit 1).
// Usage: node dist/bench/probes/i8_subgroup_matrix.js [--emulate]
import { Gpu } from '../../src/gpu/gpu.js';
import { preprocess } from '../../src/gpu/shaders.js';
import { hasInt8TensorCores } from '../../src/kernels/w8a8_linear.js';
import {
  COL_STORE_AT, HYPOTHESES, OUT_WORDS, WORDS, gather, hypothesisName, matmul, probeShader, sameValues, sourceBytes, transpose16,
  type Case, type Major, type Pipe,
} from './i8_subgroup_matrix_model.js';

const emulate = process.argv.includes('--emulate');
const gpu = await Gpu.create();
const dev = gpu.device;
console.log(`device: ${gpu.describe()}; subgroup-matrix syntax '${gpu.caps.subgroupMatrixSyntax}'${emulate ? '; EMULATED (self-test)' : ''}`);
if (!emulate && !hasInt8TensorCores(gpu)) {
  console.log('i8-probe: this device has no i8 16x16x32 subgroup matrices on 32-wide subgroups: nothing to probe (--emulate self-tests the probe)');
  process.exit(0);
}
// The defines Gpu.pipeline adds for the kernels (SGM_BOOL where this Dawn has the older spelling).
const defines = new Set([...(gpu.caps.subgroupMatrixSyntax === 'bool' ? ['SGM_BOOL'] : []), ...(emulate ? ['EMULATE'] : [])]);

const MAJORS: Major[] = ['row_major', 'col_major'];
const PIPES: Pipe[] = (['workgroup', 'storage'] as const).flatMap((space) => MAJORS.flatMap((aMajor) => MAJORS.map((bMajor) => ({ space, aMajor, bMajor }))));
const CASES: Case[] = [
  ...[[0, 0], [4, 16], [16, 64], [64, 4]].flatMap(([offA, offB]) => [[32, 32], [40, 48], [80, 80]].map(([strideA, strideB]) => ({ offA, strideA, offB, strideB }))),
  { offA: 16 * 80 + 32, strideA: 80, offB: 32 * 80 + 32, strideB: 80 }, // w8a8_linear_sgm's a1 and b0 of the second half-step, in bytes
].map((c, i) => ({ ...c, offC: [0, 4, 16][i % 3], strideC: [16, 20, 17][i % 3] }));
const caseName = (c: Case) => `offA ${c.offA} strideA ${c.strideA} offB ${c.offB} strideB ${c.strideB}`;
const pipeName = (p: Pipe) => `${p.space} A ${p.aMajor} B ${p.bMajor}`;

const bytes = sourceBytes();
const src = dev.createBuffer({ size: WORDS * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
dev.queue.writeBuffer(src, 0, bytes);

interface Run { pipe: Pipe; c: Case; readback: GPUBuffer }
const runs: Run[] = [];
const enc = dev.createCommandEncoder();
for (const pipe of PIPES) {
  dev.pushErrorScope('validation');
  const module = dev.createShaderModule({ code: preprocess(probeShader(pipe), defines, 'i8_subgroup_matrix'), label: pipeName(pipe) });
  const pipeline = dev.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: pipeName(pipe) });
  const err = await dev.popErrorScope();
  if (err) {
    console.log(`${pipeName(pipe)}: COMPILE ERROR ${err.message.split('\n').slice(0, 8).join(' | ')}`);
    continue;
  }
  for (const c of CASES) {
    const ub = dev.createBuffer({ size: 32, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    dev.queue.writeBuffer(ub, 0, new Uint32Array([c.offA, c.strideA, c.offB, c.strideB, c.offC, c.strideC, 0, 0]));
    const out = dev.createBuffer({ size: OUT_WORDS * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    dev.queue.writeBuffer(out, 0, new Int32Array(OUT_WORDS).fill(0x5a5a5a5a));
    const readback = dev.createBuffer({ size: OUT_WORDS * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const entries = [src, out, ub].map((buffer, binding) => ({ binding, resource: { buffer } }));
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, dev.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }));
    pass.dispatchWorkgroups(1);
    pass.end();
    enc.copyBufferToBuffer(out, 0, readback, 0, OUT_WORDS * 4);
    runs.push({ pipe, c, readback });
  }
}
dev.queue.submit([enc.finish()]);

// Matches per hypothesis: operand A, operand B, result layout, and the column-major store's consistency.
const tally = new Map<string, { hit: number; of: number }>();
const count = (key: string, hit: boolean) => {
  const t = tally.get(key) ?? { hit: 0, of: 0 };
  t.hit += hit ? 1 : 0;
  t.of++;
  tally.set(key, t);
};
const kernelMatches = new Map<string, number>(); // joint A|B hypotheses that matched, w8a8_linear_sgm's layout
let kernelCases = 0;
let unexplained = 0;
for (const { pipe, c, readback } of runs) {
  await readback.mapAsync(GPUMapMode.READ);
  const out = new Int32Array(readback.getMappedRange().slice(0));
  readback.unmap();
  const got = out.subarray(0, 256);
  const gotCol = new Int32Array(256);
  for (let r = 0; r < 16; r++) for (let n = 0; n < 16; n++) gotCol[r * 16 + n] = out[COL_STORE_AT + c.offC + n * c.strideC + r];
  const matches: string[] = [];
  const hitA = new Set<string>(), hitB = new Set<string>(), hitC = new Set<string>();
  for (const ha of HYPOTHESES) {
    const a = gather(bytes, 16, 32, pipe.aMajor, c.offA, c.strideA, ha);
    if (!a) continue;
    for (const hb of HYPOTHESES) {
      const b = gather(bytes, 32, 16, pipe.bMajor, c.offB, c.strideB, hb);
      if (!b) continue;
      const want = matmul(a, b);
      for (const [layout, w] of [['as stored', want], ['transposed', transpose16(want)]] as const) {
        if (!sameValues(got, w)) continue;
        matches.push(`A {${hypothesisName(ha)}} B {${hypothesisName(hb)}} C ${layout}`);
        hitA.add(hypothesisName(ha));
        hitB.add(hypothesisName(hb));
        hitC.add(layout);
      }
    }
  }
  for (const h of HYPOTHESES) {
    // Only where the hypothesis reads inside the source (the kernel-like case's word reading of a row-major B does not).
    if (gather(bytes, 16, 32, pipe.aMajor, c.offA, c.strideA, h)) count(`A ${pipe.aMajor} (${pipe.space}): ${hypothesisName(h)}`, hitA.has(hypothesisName(h)));
    if (gather(bytes, 32, 16, pipe.bMajor, c.offB, c.strideB, h)) count(`B ${pipe.bMajor} (${pipe.space}): ${hypothesisName(h)}`, hitB.has(hypothesisName(h)));
  }
  for (const l of ['as stored', 'transposed']) count(`C row_major store at offset 0 stride 16: result ${l}`, hitC.has(l));
  const colOk = sameValues(got, gotCol);
  count('C col_major store (offset and stride in i32 words) equals the row_major store', colOk);
  if (!matches.length) unexplained++;
  const zeros = got.filter((v) => v === 0).length;
  const untouched = got.filter((v) => v === 0x5a5a5a5a).length;
  console.log(`${pipeName(pipe)} ${caseName(c)}: ${matches.length ? matches.join('; ') : `NO HYPOTHESIS MATCHES (C[0][0..3] = ${Array.from(got.subarray(0, 4))}; ${zeros} zeros, ${untouched} unwritten of 256)`}${colOk ? '' : ' [col_major store differs]'}`);
  if (pipe.space === 'workgroup' && pipe.aMajor === 'row_major' && pipe.bMajor === 'col_major') {
    kernelCases++;
    for (const m of matches) kernelMatches.set(m, (kernelMatches.get(m) ?? 0) + 1);
  }
}

console.log('\nper hypothesis (cases it explains / cases run where it reads inside the source):');
for (const [key, t] of [...tally].sort(([x], [y]) => x.localeCompare(y))) if (t.hit > 0 || key.endsWith('offset bytes, stride bytes') || !key.includes('offset')) console.log(`  ${t.hit === t.of ? 'MATCHES' : t.hit ? 'partial' : 'no     '} ${t.hit}/${t.of}  ${key}`);
console.log(`  (hypotheses that explain no case are left out, except the kernel's own: offset bytes, stride bytes)`);

const always = [...kernelMatches].filter(([, n]) => n === kernelCases).map(([m]) => m);
const kernelWants = 'A {offset bytes, stride bytes} B {offset bytes, stride bytes} C as stored';
const words = 'A {offset words, stride words} B {offset words, stride words} C as stored';
let verdict: string;
if (!kernelCases) verdict = 'not run (compile error above)';
else if (always.includes(kernelWants)) verdict = 'offsets and strides count bytes, as w8a8_linear_sgm assumes: its wrong sums come from elsewhere';
else if (always.includes(words)) verdict = 'offsets and strides count i32 words (array elements), not bytes: add I8_WORDS to planW8A8\'s tensor-core defines';
else verdict = always.length ? `neither bytes nor words alone; always matched: ${always.join('; ')}` : 'no single hypothesis explains every case (see the lines above)';
console.log(`\nverdict for w8a8_linear_sgm's loads (workgroup, A row_major, B col_major, '${gpu.caps.subgroupMatrixSyntax}' syntax): ${verdict}`);
console.log(`${runs.length} cases, ${unexplained} unexplained by any hypothesis`);
const bytesEverywhere = [...tally].filter(([k]) => k.endsWith('offset bytes, stride bytes')).every(([, t]) => t.hit === t.of);
if (emulate && !(bytesEverywhere && always.includes(kernelWants) && unexplained === 0)) {
  console.log('i8-probe self-test FAILED: the emulated kernel assumption (bytes) should explain every case of every layout');
  process.exit(1);
}
await gpu.flush();
