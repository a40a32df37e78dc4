// `tknp bench decode --baseline FILE`: the PyTorch peer's report (tools/bench_decode_pytorch.py:
// the same preset and (batch, context) cases as a hand-written f16 decode step in one CUDA
// graph, plus a transformers `generate` row and an eager prefill), checked field by field, and
// joined to tknp's cases: tokens/s ratio, CPU ms to record a step, and the bytes roofline of
// each step (weights + KV read once ÷ a copy bandwidth).
import type { DecodeBenchReport, DecodeCaseResult } from './decode.js';

export class DecodeBaselineError extends Error {
  override readonly name = 'DecodeBaselineError';
}

export interface PeerStepMs {
  readonly median: number;
  readonly mean: number;
  readonly p10: number;
  readonly p90: number;
  readonly min: number;
  readonly max: number;
}

export interface PeerCaseResult {
  readonly batch: number;
  readonly context: number;
  /** Sequences run: the largest batch that fit the GPU's free memory when `batch` did not. */
  readonly ranBatch: number;
  readonly fit?: boolean;
  readonly stepMs?: PeerStepMs;
  readonly tokensPerSecond?: number;
  readonly skipped?: string;
}

export interface PeerGenerate {
  readonly batch: number;
  readonly context: number;
  readonly newTokens: number;
  readonly cache?: string;
  readonly impl?: string;
  readonly msPerToken?: number;
  readonly tokensPerSecond?: number;
  readonly ttftMs?: number;
  readonly skipped?: string;
}

export interface PeerPrefill {
  readonly tokens: number;
  readonly ttftMs?: number;
  readonly tokensPerSecond?: number;
  readonly impl?: string;
  readonly skipped?: string;
}

export interface PeerReport {
  readonly source: string;
  readonly preset: string | null;
  readonly device?: string;
  /** Measured device copy bandwidth (bytes read + written per second), GB/s. */
  readonly copyGBps?: number;
  readonly results: readonly PeerCaseResult[];
  readonly generate?: PeerGenerate;
  readonly prefill?: PeerPrefill;
  readonly errors?: readonly string[];
}

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Checks the peer's JSON (`file` names it in every error) and returns it typed. */
export function parsePeerReport(doc: unknown, file: string): PeerReport {
  const fail = (where: string, what: string): never => {
    throw new DecodeBaselineError(`--baseline ${file}: ${where} ${what}`);
  };
  const num = (o: Obj, key: string, where: string, opts: { int?: boolean; optional?: boolean } = {}): number | undefined => {
    const v = o[key];
    if (v === undefined && opts.optional) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (opts.int && !Number.isInteger(v))) fail(where, `'${key}' must be a positive ${opts.int ? 'integer' : 'number'}, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const str = (o: Obj, key: string, where: string): string | undefined => {
    const v = o[key];
    if (v !== undefined && typeof v !== 'string') fail(where, `'${key}' must be a string, got ${JSON.stringify(v)}`);
    return v as string | undefined;
  };
  if (!isObj(doc)) return fail('the file', 'is not a JSON object (expected the report of tools/bench_decode_pytorch.py)');
  if (typeof doc.source !== 'string') fail('the report', "has no 'source' string (not a report of tools/bench_decode_pytorch.py?)");
  if (!Array.isArray(doc.results)) fail('the report', "has no 'results' list");
  const seen = new Set<string>();
  const results = (doc.results as unknown[]).map((r, i): PeerCaseResult => {
    const where = `results[${i}]`;
    if (!isObj(r)) return fail(where, 'is not an object');
    const batch = num(r, 'batch', where, { int: true })!;
    const context = num(r, 'context', where, { int: true })!;
    if (seen.has(`${batch}x${context}`)) fail(where, `repeats batch ${batch} context ${context}`);
    seen.add(`${batch}x${context}`);
    const skipped = str(r, 'skipped', where);
    if (skipped !== undefined) return { batch, context, ranBatch: 0, skipped };
    const ranBatch = num(r, 'ranBatch', where, { int: true })!;
    if (ranBatch > batch) fail(where, `ran ${ranBatch} sequences, more than its batch ${batch}`);
    if (!isObj(r.stepMs)) fail(where, "has neither 'stepMs' nor 'skipped'");
    const s = r.stepMs as Obj;
    const stepMs = Object.fromEntries(['median', 'mean', 'p10', 'p90', 'min', 'max'].map((k) => [k, num(s, k, `${where}.stepMs`)])) as unknown as PeerStepMs;
    return { batch, context, ranBatch, fit: r.fit === undefined ? undefined : r.fit === true, stepMs, tokensPerSecond: num(r, 'tokensPerSecond', where) };
  });
  const side = <T>(key: string, parse: (o: Obj) => T): T | undefined => {
    const o = doc[key];
    if (o === undefined || o === null) return undefined;
    if (!isObj(o)) return fail(`'${key}'`, 'is not an object');
    return parse(o);
  };
  const generate = side('generate', (o): PeerGenerate => {
    const base = { batch: num(o, 'batch', 'generate', { int: true })!, context: num(o, 'context', 'generate', { int: true })!, newTokens: num(o, 'newTokens', 'generate', { int: true })! };
    const skipped = str(o, 'skipped', 'generate');
    if (skipped !== undefined) return { ...base, skipped };
    return { ...base, cache: str(o, 'cache', 'generate'), impl: str(o, 'impl', 'generate'), msPerToken: num(o, 'msPerToken', 'generate'), tokensPerSecond: num(o, 'tokensPerSecond', 'generate'), ttftMs: num(o, 'ttftMs', 'generate', { optional: true }) };
  });
  const prefill = side('prefill', (o): PeerPrefill => {
    const tokens = num(o, 'tokens', 'prefill', { int: true })!;
    const skipped = str(o, 'skipped', 'prefill');
    if (skipped !== undefined) return { tokens, skipped };
    return { tokens, ttftMs: num(o, 'ttftMs', 'prefill'), tokensPerSecond: num(o, 'tokensPerSecond', 'prefill', { optional: true }), impl: str(o, 'impl', 'prefill') };
  });
  const preset = doc.preset;
  if (preset !== undefined && preset !== null && typeof preset !== 'string') fail('the report', `'preset' must be a string or null, got ${JSON.stringify(preset)}`);
  const errors = Array.isArray(doc.errors) ? doc.errors.map(String) : undefined;
  return {
    source: doc.source as string,
    preset: (preset as string | undefined) ?? null,
    device: str(doc, 'device', 'the report'),
    copyGBps: num(doc, 'copyGBps', 'the report', { optional: true }),
    results,
    ...(generate ? { generate } : {}),
    ...(prefill ? { prefill } : {}),
    ...(errors?.length ? { errors } : {}),
  };
}

/** Refuses a baseline made for another preset (a run on --model has no preset to check). */
export function checkBaselinePreset(peer: PeerReport, preset: string | null, file: string): void {
  if (peer.preset !== null && preset !== null && peer.preset !== preset) {
    throw new DecodeBaselineError(`--baseline ${file} is for preset '${peer.preset}', this run is '${preset}': make it from this run's --list-cases`);
  }
}

/** One tknp case beside the peer's and the roofline. */
export interface DecodeComparison {
  readonly batch: number;
  readonly context: number;
  readonly ranBatch: number;
  readonly tokensPerSecond?: number;
  readonly stepMsMean?: number;
  readonly recordMs?: number;
  readonly peer?: { readonly ranBatch: number; readonly tokensPerSecond?: number; readonly stepMsMedian?: number; readonly skipped?: string };
  /** tknp tokens/s ÷ PyTorch tokens/s (>1: tknp faster); only where both ran. */
  readonly ratio?: number;
  /** Both ran the same number of sequences (else the ratio compares what each fitted). */
  readonly sameBatch?: boolean;
  /** Bytes one step must read per GPU: the weights once plus the batch's KV. */
  readonly stepBytes: number;
  readonly rooflineMs?: number;
  readonly rooflineTokensPerSecond?: number;
  /** rooflineMs ÷ tknp's mean step ms, in %. */
  readonly pctOfRoofline?: number;
}

/**
 * Bytes a decode step reads per GPU at least: every weight once (the embedding table only
 * where it is tied to lm_head, else just the batch's rows: left out; layer weights split over
 * tp ranks, in the report's weight format, lm_head replicated) plus the batch's KV at `context` tokens (spread over tknp ranks).
 */
export function decodeStepBytes(rep: DecodeBenchReport, r: Pick<DecodeCaseResult, 'ranBatch' | 'context'>): number {
  const mc = rep.modelConfig;
  const table = mc.vocabSize * mc.hiddenSize;
  const layers = mc.parameters - table * (mc.tieWordEmbeddings ? 1 : 2) - mc.hiddenSize;
  const layerBytes = rep.layerWeightBytes ?? 2 * layers; // quantized projections: their packed bytes
  const weights = layerBytes / rep.tensorParallelSize + 2 * (table + mc.hiddenSize);
  const kv = (r.ranBatch * r.context * rep.kv.bytesPerToken) / rep.tokenParallelSize;
  return weights + kv;
}

export function compareDecode(rep: DecodeBenchReport, peer: PeerReport | undefined, copyGBps: number | undefined): DecodeComparison[] {
  return rep.results.map((r) => {
    const p = peer?.results.find((x) => x.batch === r.batch && x.context === r.context);
    const ran = !r.skipped && r.ranBatch > 0;
    const stepBytes = decodeStepBytes(rep, r);
    const rooflineMs = copyGBps && ran ? stepBytes / (copyGBps * 1e6) : undefined;
    const peerRan = p && !p.skipped && p.tokensPerSecond !== undefined;
    return {
      batch: r.batch,
      context: r.context,
      ranBatch: r.ranBatch,
      tokensPerSecond: r.tokensPerSecond,
      stepMsMean: r.stepMs?.mean,
      recordMs: r.recordMs,
      ...(p ? { peer: { ranBatch: p.ranBatch, tokensPerSecond: p.tokensPerSecond, stepMsMedian: p.stepMs?.median, ...(p.skipped ? { skipped: p.skipped } : {}) } } : {}),
      ...(ran && peerRan ? { ratio: r.tokensPerSecond! / p.tokensPerSecond!, sameBatch: p.ranBatch === r.ranBatch } : {}),
      stepBytes,
      ...(rooflineMs !== undefined ? { rooflineMs, rooflineTokensPerSecond: r.ranBatch / (rooflineMs / 1e3), pctOfRoofline: (100 * rooflineMs) / r.stepMs!.mean } : {}),
    };
  });
}

/** The copy bandwidth the roofline uses: --copy-gbps where given, else the peer's measured one. */
export function rooflineCopy(flag: number | undefined, peer: PeerReport | undefined): { readonly gbps: number; readonly source: string } | undefined {
  if (flag !== undefined) {
    if (!Number.isFinite(flag) || flag <= 0) throw new DecodeBaselineError(`--copy-gbps must be a positive number of GB/s, got ${flag}`);
    return { gbps: flag, source: '--copy-gbps' };
  }
  if (peer?.copyGBps) return { gbps: peer.copyGBps, source: `measured by the PyTorch peer (1 GiB tensor copy${peer.device ? ` on ${peer.device}` : ''})` };
  return undefined;
}

/** The ratio cell: '1.23', '1.23*' where the two ran different batches, '—' where one did not run. */
export function ratioCell(c: DecodeComparison): string {
  if (c.ratio === undefined) return '—';
  return `${c.ratio.toFixed(2)}${c.sameBatch ? '' : '*'}`;
}
