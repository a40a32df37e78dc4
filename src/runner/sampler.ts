// The sampling tail of a step on the root rank: penalties (vLLM's repetition / frequency /
// presence) on the logits, then argmax or temperature / top-k / top-p sampling, then logprobs of
// the raw logits (as vLLM's default logprobs_mode 'raw_logprobs': before temperature, penalties
// and top-k/top-p). Everything runs on the GPU; only ids (and asked-for logprobs) come back.
import type { Gpu } from '../gpu/gpu.js';
import type { Recorder } from '../gpu/recorder.js';
import { rows, type Tensor } from '../gpu/tensor.js';
import { logprobs, MAX_TOP_LOGPROBS } from '../kernels/logprobs.js';
import { applyPenalties, packPenaltyRows, PENALTY_PARAM_WORDS, type PenaltyRow } from '../kernels/penalties.js';
import { argmax, packSamplingParams, sample, SAMPLING_PARAM_WORDS, type SamplingRow } from '../kernels/sampling.js';

/** One sampled row of a step: its sampling parameters, logprobs wanted and penalties. */
export interface StepSamplingRow extends SamplingRow {
  /** Top logprobs to return with the sampled token's (0..20); undefined or -1: none. */
  readonly logprobs?: number;
  /** Penalties and the tokens they apply to; undefined: none. */
  readonly penalties?: PenaltyRow;
}

/** Logprobs of a step's sampled rows (rows that asked for fewer top entries use a prefix). */
export interface StepLogprobs {
  /** Top entries per row. */
  readonly K: number;
  /** [numSampled, 1 + K] the sampled token's logprob, then the top K logprobs. */
  readonly values: Float32Array;
  /** [numSampled, max(K, 1)] top K token ids (NO_TOKEN where a row has fewer). */
  readonly ids: Uint32Array;
}

/** Whether a row's penalties change anything. */
export function penalizes(p: PenaltyRow | undefined): p is PenaltyRow {
  return p !== undefined && p.tokenIds.length > 0 && (p.presencePenalty !== 0 || p.frequencyPenalty !== 0 || p.repetitionPenalty !== 1);
}

export class Sampler {
  private readonly sampled: Tensor;
  private readonly params: Tensor;
  private readonly penaltyParams: Tensor;
  private readonly lpValues: Tensor;
  private readonly lpIds: Tensor;

  constructor(
    private readonly gpu: Gpu,
    readonly maxSeqs: number,
  ) {
    this.sampled = gpu.tensor([maxSeqs], 'u32', 'sampled');
    this.params = gpu.tensor([maxSeqs, SAMPLING_PARAM_WORDS], 'u32', 'samplingParams');
    this.penaltyParams = gpu.tensor([maxSeqs, PENALTY_PARAM_WORDS], 'u32', 'penaltyParams');
    this.lpValues = gpu.tensor([maxSeqs * (1 + MAX_TOP_LOGPROBS)], 'f32', 'logprobs');
    this.lpIds = gpu.tensor([maxSeqs * MAX_TOP_LOGPROBS], 'u32', 'top logprob ids');
  }

  /**
   * Records the sampling of `logits` ([S, V] f32, one row per entry of `list`; penalties may
   * change it in place) and returns what reads the results back after the submit.
   */
  record(rec: Recorder, logits: Tensor, list: readonly StepSamplingRow[]): () => Promise<{ tokens: Uint32Array; logprobs?: StepLogprobs }> {
    const S = logits.shape[0];
    const V = logits.shape[1];
    const out = rows(this.sampled, S);
    if (S === 0) return async () => ({ tokens: new Uint32Array(0) });
    const K = Math.max(-1, ...list.map((r) => r.logprobs ?? -1));
    if (K > MAX_TOP_LOGPROBS) throw new RangeError(`sampler: ${K} top logprobs asked; at most ${MAX_TOP_LOGPROBS}`);
    let processed = logits;
    const penalties = list.map((r) => (penalizes(r.penalties) ? r.penalties : undefined));
    if (penalties.some((p) => p)) {
      // Logprobs come from the raw logits: penalise a copy when both are asked for.
      if (K >= 0) {
        processed = rec.scratch([S, V], 'f32', 'penalised logits');
        rec.copy(logits, processed, S * V * 4);
      }
      const packed = packPenaltyRows(penalties, V);
      const entries = rec.scratch([packed.entries.length / 2, 2], 'u32', 'penalty entries');
      this.gpu.write(entries, packed.entries);
      this.gpu.write(this.penaltyParams, packed.rowParams);
      applyPenalties(rec, processed, rows(this.penaltyParams, S), entries);
    }
    if (list.every((s) => s.temperature === 0)) argmax(rec, processed, out);
    else {
      this.gpu.write(this.params, packSamplingParams(list));
      sample(rec, processed, rows(this.params, S), out);
    }
    if (K < 0) return async () => ({ tokens: (await this.gpu.read(out)) as Uint32Array });
    const values = { ...this.lpValues, shape: [S, 1 + K] };
    const ids = { ...this.lpIds, shape: [S, Math.max(K, 1)] };
    logprobs(rec, logits, out, values, ids, K);
    return async () => {
      const [t, v, i] = await this.gpu.readMany([out, values, ids]);
      return { tokens: t as Uint32Array, logprobs: { K, values: v as Float32Array, ids: i as Uint32Array } };
    };
  }
}
