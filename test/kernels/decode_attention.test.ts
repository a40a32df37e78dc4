import { describe, expect, it } from 'vitest';
import { decodeAttention, DEFAULT_PARTITION_SIZE } from '../../src/kernels/decode_attention.js';
import { attentionRef } from '../../src/kernels/ref/attention.js';
import { ShapeError } from '../../src/gpu/errors.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import type { Tensor } from '../../src/gpu/tensor.js';
import { fromF16, toF16 } from '../../src/util/f16.js';
import { Rng } from '../../src/util/rng.js';
import { expectClose, noGpuReason, readF32, run, testGpu, type Tolerance } from '../helpers/gpu.js';

const gpu = await testGpu();

// f16 output (one rounding, ~5e-4 relative) of an f32 computation vs the f64 reference.
const TOL: Tolerance = { atol: 2e-3, rtol: 1e-2 };

interface Shape {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
}

/** A paged cache filled with random f16 values, and block tables that scatter each sequence's blocks. */
interface Paged {
  shape: Shape;
  seqLens: number[];
  maxBlocksPerSeq: number;
  numBlocks: number;
  blockTables: Uint32Array;
  kCache: Uint16Array;
  vCache: Uint16Array;
}

function shuffled(rng: Rng, n: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

function makePaged(rng: Rng, shape: Shape, seqLens: number[]): Paged {
  const need = seqLens.map((l) => Math.ceil(l / 16));
  const maxBlocksPerSeq = Math.max(1, ...need) + 1;
  const numBlocks = need.reduce((a, b) => a + b, 0) + 3;
  const perm = shuffled(rng, numBlocks);
  const blockTables = new Uint32Array(seqLens.length * maxBlocksPerSeq);
  let next = 0;
  seqLens.forEach((_, s) => {
    for (let b = 0; b < maxBlocksPerSeq; b++) {
      // Entries past a sequence's length point at real (other) blocks: reading them is caught.
      blockTables[s * maxBlocksPerSeq + b] = b < need[s] ? perm[next++] : rng.int(0, numBlocks - 1);
    }
  });
  const n = numBlocks * shape.numKvHeads * 16 * shape.headDim;
  return {
    shape,
    seqLens,
    maxBlocksPerSeq,
    numBlocks,
    blockTables,
    kCache: toF16(rng.floats(n, -1, 1)),
    vCache: toF16(rng.floats(n, -1, 1)),
  };
}

interface Uploaded {
  kCache: Tensor;
  vCache: Tensor;
  blockTables: Tensor;
  seqLens: Tensor;
}

function upload(g: Gpu, c: Paged): Uploaded {
  const { numKvHeads, headDim } = c.shape;
  return {
    kCache: g.upload(c.kCache, [c.numBlocks, numKvHeads, 16, headDim], 'f16', 'kCache'),
    vCache: g.upload(c.vCache, [c.numBlocks, numKvHeads, 16, headDim], 'f16', 'vCache'),
    blockTables: g.upload(c.blockTables, [c.seqLens.length, c.maxBlocksPerSeq], 'u32', 'blockTables'),
    seqLens: g.upload(Uint32Array.from(c.seqLens), [c.seqLens.length], 'u32', 'seqLens'),
  };
}

/** Runs the kernel; returns the raw f16 bits of out. */
interface RunOptions {
  maxSeqLen?: number;
  partitionSize?: number;
  headsPerWorkgroup?: number;
  epilogue?: 'all-heads' | 'per-head';
  scale?: number;
  slidingWindow?: number;
  softcap?: number;
}

async function runDecode(g: Gpu, c: Paged, t: Uploaded, qBits: Uint16Array, opts: RunOptions = {}) {
  const { numHeads, headDim } = c.shape;
  const S = c.seqLens.length;
  const q = g.upload(qBits, [S, numHeads, headDim], 'f16', 'q');
  const out = g.tensor([S, numHeads, headDim], 'f16', 'out');
  const maxSeqLen = opts.maxSeqLen ?? Math.max(0, ...c.seqLens);
  await run(g, (rec) =>
    decodeAttention(rec, q, t.kCache, t.vCache, t.blockTables, t.seqLens, out, { ...opts, scale: opts.scale ?? 1 / Math.sqrt(headDim), maxSeqLen }),
  );
  const bits = (await g.read(out)) as Uint16Array;
  q.buffer.destroy();
  out.buffer.destroy();
  return bits;
}

function reference(c: Paged, qBits: Uint16Array, scale = 1 / Math.sqrt(c.shape.headDim), extra: { slidingWindow?: number; softcap?: number } = {}): Float64Array {
  const { numHeads, numKvHeads, headDim } = c.shape;
  return attentionRef(fromF16(qBits), fromF16(c.kCache), fromF16(c.vCache), c.blockTables, {
    numHeads,
    numKvHeads,
    headDim,
    scale,
    queryLens: c.seqLens.map(() => 1),
    contextLens: c.seqLens,
    maxBlocksPerSeq: c.maxBlocksPerSeq,
    ...extra,
  });
}

async function checkAgainstRef(seed: number, shape: Shape, seqLens: number[], opts: RunOptions & { qRange?: number } = {}) {
  const g = gpu!;
  const rng = new Rng(seed);
  const c = makePaged(rng, shape, seqLens);
  const t = upload(g, c);
  const r = opts.qRange ?? 2;
  const qBits = toF16(rng.floats(seqLens.length * shape.numHeads * shape.headDim, -r, r));
  const { qRange: _, ...run } = opts;
  const got = fromF16(await runDecode(g, c, t, qBits, run));
  for (const x of Object.values(t)) x.buffer.destroy();
  const what = `Hq=${shape.numHeads} Hkv=${shape.numKvHeads} D=${shape.headDim} seqLens=[${seqLens}] P=${opts.partitionSize ?? DEFAULT_PARTITION_SIZE} scale=${opts.scale ?? 'default'}`;
  expectClose(got, reference(c, qBits, opts.scale, { slidingWindow: opts.slidingWindow, softcap: opts.softcap }), TOL, `${what} window=${opts.slidingWindow} softcap=${opts.softcap}`);
}

const SEQ_LENS = [100, 1, 17, 1000, 16, 15, 63, 250];

/** SEQ_LENS and three seeded random lengths: partition tails land on every lane and unroll slot. */
function seqLensFor(seed: number): number[] {
  const rng = new Rng(seed ^ 0x5eed);
  return [...SEQ_LENS, rng.int(2, 700), rng.int(2, 700), rng.int(257, 1200)];
}

describe.skipIf(!gpu)(`decodeAttention ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  // GQA ratios 1, 2, 4, 6, 8 over headDim 64 and 128, each over seqLens 1..1000 in one batch.
  // Each (heads per workgroup, headDim, partitionSize) is a pipeline variant that lavapipe
  // compiles in seconds, so the whole file sticks to these 5. They cover one head quad with
  // idle lanes (ratios 1, 2), a full quad (4), two quads (6: two idle lanes; 8), one and two
  // 16-byte chunks per lane (lavapipe: D64 / D128), and a partition size of 16 (one block per
  // partition, up to 63 partitions to merge).
  it.each([
    [4, 4, 64, DEFAULT_PARTITION_SIZE],
    [4, 2, 64, 16],
    [8, 2, 128, DEFAULT_PARTITION_SIZE],
    [12, 2, 128, DEFAULT_PARTITION_SIZE],
    [16, 2, 128, DEFAULT_PARTITION_SIZE],
  ])('Hq=%i Hkv=%i D=%i P=%i, seqLens 1..1200, shuffled blocks: matches the reference', async (numHeads, numKvHeads, headDim, partitionSize) => {
    const seed = numHeads * 100 + numKvHeads * 10 + headDim;
    await checkAgainstRef(seed, { numHeads, numKvHeads, headDim }, seqLensFor(seed), { partitionSize });
  });

  // The shapes of real checkpoints beyond those: GQA 3 (SmolLM2), 5, 7 (Qwen2.5), 16 (one kv group served by two
  // workgroups of 8 heads), head dims 80 and 96 (the lanes' chunks cover more than a row: masked) and 256
  // (Gemma: 4 chunks per lane on 8-wide subgroups). Fewer sequences than above: each is a pipeline of its own.
  it.each([
    [6, 2, 80],
    [10, 2, 96],
    [14, 2, 64],
    [16, 1, 128],
    [4, 2, 256],
  ])('Hq=%i Hkv=%i D=%i (GQA 3, 5, 7, 16; head dims 80, 96, 256): matches the reference', async (numHeads, numKvHeads, headDim) => {
    const seed = numHeads * 100 + numKvHeads * 10 + headDim;
    const rng = new Rng(seed);
    await checkAgainstRef(seed, { numHeads, numKvHeads, headDim }, [1, 15, 530, rng.int(2, 700), rng.int(700, 1100)]);
  });

  it('GQA 16 split over 4 workgroups per kv head (4 heads each) matches the reference', async () => {
    await checkAgainstRef(1604, { numHeads: 16, numKvHeads: 1, headDim: 128 }, [3, 600], { headsPerWorkgroup: 4 });
  });

  // The scale is a parameter (Gemma: query_pre_attn_scalar^-0.5, not headDim^-0.5): a kernel that used
  // 1/sqrt(headDim) instead would be off by a factor in every logit.
  it.each([
    [0.05, 64],
    [0.3, 128],
  ])('softmax scale %f (not 1/sqrt(headDim)) with D=%i matches the reference', async (scale, headDim) => {
    await checkAgainstRef(77 + headDim, { numHeads: 4, numKvHeads: 2, headDim }, [40, 700], { scale, qRange: 4 });
  });

  // Sliding windows (Mistral, Gemma): windows inside one partition, spanning several, and longer than some
  // sequences; with P = 64 many partitions lie wholly before the window (skipped by both passes).
  it.each([
    [100, DEFAULT_PARTITION_SIZE],
    [700, DEFAULT_PARTITION_SIZE],
    [100, 64],
  ])('sliding window %i (P=%i) matches the reference', async (slidingWindow, partitionSize) => {
    await checkAgainstRef(31 + slidingWindow, { numHeads: 8, numKvHeads: 2, headDim: 128 }, [1, 99, 100, 101, 530, 1300], { slidingWindow, partitionSize });
  });

  // Gemma 2's attention logit soft-capping (50 there; 2 here so that the cap bends most scores).
  it('soft-capped scores (tanh(s / 2) · 2), alone and with a sliding window, match the reference', async () => {
    await checkAgainstRef(52, { numHeads: 4, numKvHeads: 2, headDim: 64 }, [1, 40, 700], { softcap: 2, qRange: 6 });
    await checkAgainstRef(53, { numHeads: 4, numKvHeads: 2, headDim: 64 }, [1, 40, 700], { softcap: 2, slidingWindow: 33, qRange: 6 });
  });

  it.each([
    [8, 2, 128],
    [4, 4, 64],
  ])('long context (~5000 tokens, many blocks and partitions): Hq=%i Hkv=%i D=%i', async (numHeads, numKvHeads, headDim) => {
    await checkAgainstRef(5003 + headDim, { numHeads, numKvHeads, headDim }, [5003, 37, 2048]);
  });

  it('large logits (|q| up to 16): the max-subtracted softmax stays finite and accurate', async () => {
    await checkAgainstRef(16, { numHeads: 8, numKvHeads: 1, headDim: 128 }, [700, 3, 260], { qRange: 16 });
  });

  it('a sequence gives the same bits alone, in a batch of 5, with a larger maxSeqLen, with 2 or 4 q heads per workgroup, and either epilogue', async () => {
    const g = gpu!;
    const shape = { numHeads: 16, numKvHeads: 2, headDim: 128 };
    const rng = new Rng(7);
    // One cache; the batch of 5 reuses the lone sequence's block row at batch position 2.
    const batch = makePaged(rng, shape, [3000, 1, 777, 16, 250]);
    const rowLen = batch.maxBlocksPerSeq;
    const alone: Paged = { ...batch, seqLens: [777], blockTables: batch.blockTables.slice(2 * rowLen, 3 * rowLen) };
    const qAll = toF16(rng.floats(5 * shape.numHeads * shape.headDim, -2, 2));
    const rowQ = shape.numHeads * shape.headDim;
    const qAlone = qAll.slice(2 * rowQ, 3 * rowQ);
    const tb = upload(g, batch);
    const ta = upload(g, alone);
    const inBatch = (await runDecode(g, batch, tb, qAll)).slice(2 * rowQ, 3 * rowQ);
    const single = await runDecode(g, alone, ta, qAlone);
    const widerGrid = await runDecode(g, alone, ta, qAlone, { maxSeqLen: alone.maxBlocksPerSeq * 16 });
    const fourPerWorkgroup = await runDecode(g, alone, ta, qAlone, { headsPerWorkgroup: 4 }); // default: 8 (the group)
    // The subgroups' outputs combined one head at a time and all heads at once, forced both ways (by
    // default lavapipe's 16 subgroups of 8 take one head at a time for D128 past one head).
    const perHead = await runDecode(g, alone, ta, qAlone, { headsPerWorkgroup: 2, epilogue: 'per-head' });
    const allHeads = await runDecode(g, alone, ta, qAlone, { headsPerWorkgroup: 2, epilogue: 'all-heads' });
    for (const x of [...Object.values(tb), ...Object.values(ta)]) x.buffer.destroy();
    const diff = (a: Uint16Array, b: Uint16Array) => a.findIndex((v, i) => v !== b[i]);
    expect(diff(single, inBatch), 'alone vs in a batch of 5: first differing element').toBe(-1);
    expect(diff(single, widerGrid), 'maxSeqLen 777 vs larger: first differing element').toBe(-1);
    expect(diff(single, fourPerWorkgroup), '8 vs 4 q heads per workgroup: first differing element').toBe(-1);
    expect(diff(single, perHead), '2 q heads per workgroup, one head at a time at the end: first differing element').toBe(-1);
    expect(diff(single, allHeads), '2 q heads per workgroup, all heads at once at the end: first differing element').toBe(-1);
    // And the shared value is right.
    expectClose(fromF16(single), reference(alone, qAlone), TOL, 'lone sequence');
  });

  it('a sequence of length 0 gets zeros; the others are unaffected', async () => {
    const g = gpu!;
    const shape = { numHeads: 4, numKvHeads: 4, headDim: 64 };
    const rng = new Rng(3);
    const c = makePaged(rng, shape, [0, 40]);
    const t = upload(g, c);
    const rowQ = shape.numHeads * shape.headDim;
    const qBits = toF16(rng.floats(2 * rowQ, -2, 2));
    const got = fromF16(await runDecode(g, c, t, qBits));
    for (const x of Object.values(t)) x.buffer.destroy();
    const rowLen = c.maxBlocksPerSeq;
    const second: Paged = { ...c, seqLens: [40], blockTables: c.blockTables.slice(rowLen, 2 * rowLen) };
    const want = new Float64Array(2 * rowQ);
    want.set(reference(second, qBits.slice(rowQ)), rowQ);
    expectClose(got, want, TOL, 'seqLens [0, 40]');
  });

  it('rejects inconsistent shapes and options with a ShapeError', async () => {
    const g = gpu!;
    const q = g.tensor([2, 4, 64], 'f16');
    const kc = g.tensor([4, 4, 16, 64], 'f16');
    const bt = g.tensor([2, 3], 'u32');
    const sl = g.tensor([2], 'u32');
    const out = g.tensor([2, 4, 64], 'f16');
    const opts = { scale: 0.125, maxSeqLen: 40 };
    await run(g, (rec) => {
      expect(() => decodeAttention(rec, q, kc, kc, bt, sl, out, opts)).not.toThrow();
      const kc3 = g.tensor([4, 3, 16, 64], 'f16');
      expect(() => decodeAttention(rec, q, kc3, kc3, bt, sl, out, opts)).toThrow(ShapeError); // 4 heads, 3 kv heads
      expect(() => decodeAttention(rec, q, kc, g.tensor([4, 4, 16, 32], 'f16'), bt, sl, out, opts)).toThrow(ShapeError);
      expect(() => decodeAttention(rec, q, kc, kc, g.tensor([3, 3], 'u32'), sl, out, opts)).toThrow(ShapeError);
      expect(() => decodeAttention(rec, q, kc, kc, bt, sl, g.tensor([2, 4, 64], 'f32'), opts)).toThrow(ShapeError);
      expect(() => decodeAttention(rec, q, kc, kc, bt, sl, out, { ...opts, maxSeqLen: 49 })).toThrow(ShapeError);
      expect(() => decodeAttention(rec, q, kc, kc, bt, sl, out, { ...opts, partitionSize: 100 })).toThrow(ShapeError);
      // The per-size plan is memoized (Gpu.memo): a plan that fails is not stored, so it fails again, with its message.
      for (let i = 0; i < 2; i++) {
        expect(() => decodeAttention(rec, q, kc, kc, bt, sl, out, { ...opts, headsPerWorkgroup: 3 })).toThrow(/headsPerWorkgroup must divide the group of 1 q heads/);
      }
    });
  });
});
