// Rotary position embedding (RoPE), in place on q and k, NeoX (rotate_half) or GPT-J
// (interleaved) pairing, full or partial rotary. The cos/sin table comes from model/rope.ts.
import type { Recorder } from '../gpu/recorder.js';
import { grid } from '../gpu/recorder.js';
import { expectShape, fail, overlaps, type Tensor } from '../gpu/tensor.js';

const WG = 128;

export interface RotaryOptions {
  /** 'neox': pairs (i, i + rotaryDim/2) (Llama, Mistral, Qwen2 in HF); 'gptj': pairs (2i, 2i + 1). */
  readonly style: 'neox' | 'gptj';
  /** Rotated dims per head (even, <= headDim); the rest of each head is left as is. */
  readonly rotaryDim: number;
}

// q: [numTokens, numQHeads, headDim] f16, k: [numTokens, numKHeads, headDim] f16 (both in place),
// positions: [numTokens] u32, cosSin: [maxPositions, rotaryDim] f32 (row p: cos then sin of
// p * invFreq). A token whose position is >= maxPositions is left unrotated (the engine checks
// positions on the CPU; the GPU never reads past the table).
export function rotary(rec: Recorder, q: Tensor, k: Tensor, positions: Tensor, cosSin: Tensor, opts: RotaryOptions): void {
  // Every layer calls this once per step: messages are formatted only when a check fails.
  expectShape('rotary q', q, [-1, -1, -1], 'f16');
  const [numTokens, numQHeads, headDim] = q.shape;
  expectShape('rotary k', k, [numTokens, -1, headDim], 'f16');
  const numKHeads = k.shape[1];
  expectShape('rotary positions', positions, [numTokens], 'u32');
  checkRotaryOptions('rotary', opts, headDim);
  const { rotaryDim, style } = opts;
  expectShape('rotary cosSin', cosSin, [-1, rotaryDim], 'f32');
  const maxPositions = cosSin.shape[0];
  if (overlaps(q, k)) fail('rotary: q and k overlap');
  if (overlaps(q, positions) || overlaps(k, positions)) fail('rotary: q or k overlaps positions');
  if (overlaps(q, cosSin) || overlaps(k, cosSin)) fail('rotary: q or k overlaps cosSin');
  if (numTokens === 0 || numQHeads + numKHeads === 0) return;

  const packed = rotaryVariant(headDim, rotaryDim) === 'packed';
  const itemsPerHead = packed ? rotaryDim / 4 : rotaryDim / 2;
  const headWords = packed ? headDim / 2 : headDim;
  const defines = [packed && 'PACKED', style === 'gptj' && 'GPTJ'].filter((d): d is string => !!d);
  const pipeline = rec.gpu.pipeline('rotary', { defines, constants: { WG } });
  const items = numTokens * (numQHeads + numKHeads) * itemsPerHead;
  rec.dispatch(
    pipeline,
    [q, k, positions, cosSin],
    [numTokens, numQHeads, numKHeads, headWords, itemsPerHead, maxPositions],
    grid(Math.ceil(items / WG)),
  );
}

/** Throws a ShapeError (naming `kernel`) unless the style is known and rotaryDim is even and in [2, headDim]. */
export function checkRotaryOptions(kernel: string, opts: RotaryOptions, headDim: number): void {
  const { rotaryDim, style } = opts;
  if (style !== 'neox' && style !== 'gptj') fail(`${kernel}: style must be 'neox' or 'gptj', got ${String(style)}`);
  if (!(Number.isInteger(rotaryDim) && rotaryDim >= 2 && rotaryDim % 2 === 0 && rotaryDim <= headDim)) {
    fail(`${kernel}: rotaryDim must be even and in [2, headDim=${headDim}], got ${rotaryDim}`);
  }
}

/** 'packed' (two pairs per thread, 4-byte accesses: rotaryDim % 4 == 0, even headDim) or 'f16'. */
export function rotaryVariant(headDim: number, rotaryDim: number): 'packed' | 'f16' {
  return rotaryDim % 4 === 0 && headDim % 2 === 0 ? 'packed' : 'f16';
}
