// `tknp bench decode --baseline/--markdown/--html/--cases` without a GPU: the peer's JSON checked
// field by field, the join (ratio, batches that differ), the bytes roofline by hand, and the
// summaries.
import { describe, expect, it } from 'vitest';
import type { DecodeBenchReport, DecodeCaseResult } from '../../src/bench/decode.js';
import { checkBaselinePreset, compareDecode, DecodeBaselineError, decodeStepBytes, parsePeerReport, ratioCell, rooflineCopy } from '../../src/bench/decode_baseline.js';
import { caseList, DecodeCasesError, parseDecodeCases } from '../../src/bench/decode_plan.js';
import { renderDecodeTable } from '../../src/bench/decode_report.js';
import { compareLine, decodeSummary, decodeSummaryJson, renderDecodeHtml, renderDecodeMarkdown, sideLines } from '../../src/bench/decode_summary.js';

const GiB = 2 ** 30;
const step = (mean: number) => ({ mean, p50: mean, p90: mean, min: mean, max: mean });

function tknpCase(batch: number, context: number, ranBatch: number, mean: number, extra: Partial<DecodeCaseResult> = {}): DecodeCaseResult {
  const tps = (ranBatch * 1000) / mean;
  return { batch, context, ranBatch, fit: ranBatch === batch, maxBatchThatFits: ranBatch, limitedBy: ranBatch === batch ? null : 'kv', seqsPerRank: [ranBatch], steps: 16, stepMs: step(mean), tokensPerSecond: tps, tokensPerSecondPerGpu: tps, recordMs: 3.5, ...extra };
}

// Llama-3-8B: 8,030,261,248 parameters, vocab 128256 x hidden 4096, 128 KiB of KV per token.
const report: DecodeBenchReport = {
  command: 'tknp bench decode --cases 1x4096,128x4096,1x32768',
  date: '2026-12-06',
  preset: 'llama-3-8b',
  model: '/tmp/x',
  modelConfig: { hiddenSize: 4096, intermediateSize: 14336, numLayers: 32, numHeads: 32, numKvHeads: 8, headDim: 128, vocabSize: 128256, parameters: 8_030_261_248, tieWordEmbeddings: false },
  loadFormat: 'dummy',
  tensorParallelSize: 1,
  tokenParallelSize: 1,
  worldSize: 1,
  maxNumBatchedTokens: 4096,
  maxNumSeqs: 256,
  maxModelLen: 32787,
  warmupSteps: 2,
  startSeconds: 3,
  startupLog: [],
  kv: { numBlocksPerRank: [28818], tokensPerRank: [461088], totalTokens: 461088, bytesPerToken: 128 * 1024 },
  results: [tknpCase(1, 4096, 1, 20), tknpCase(128, 4096, 110, 100), { ...tknpCase(1, 32768, 1, 1), ranBatch: 0, skipped: 'too long', stepMs: undefined, tokensPerSecond: undefined, recordMs: undefined }],
  ttft: { tokens: 4096, runsMs: [500, 400, 450], ms: 450, tokensPerSecond: 4096 / 0.45 },
};

const peerDoc = {
  source: 'PyTorch 2.11 on H100',
  preset: 'llama-3-8b',
  device: 'NVIDIA H100',
  copyGBps: 2800,
  results: [
    { batch: 1, context: 4096, ranBatch: 1, stepMs: { median: 8, mean: 8, p10: 8, p90: 8, min: 8, max: 8 }, tokensPerSecond: 125 },
    { batch: 128, context: 4096, ranBatch: 120, stepMs: { median: 40, mean: 40, p10: 40, p90: 40, min: 40, max: 40 }, tokensPerSecond: 3000 },
    { batch: 1, context: 32768, ranBatch: 0, skipped: 'out of memory' },
  ],
  prefill: { tokens: 4096, ttftMs: 300, impl: 'eager' },
  generate: { batch: 1, context: 4096, newTokens: 32, cache: 'static', impl: 'transformers 5', msPerToken: 25, tokensPerSecond: 40, ttftMs: 350 },
};

describe('bench decode --cases', () => {
  it('parses BATCHxCONTEXT lists and names what is wrong', () => {
    expect(parseDecodeCases(' 1x4096, 256X1024,64×4096 ')).toEqual([
      { batch: 1, context: 4096 },
      { batch: 256, context: 1024 },
      { batch: 64, context: 4096 },
    ]);
    expect(() => parseDecodeCases('')).toThrow(DecodeCasesError);
    expect(() => parseDecodeCases('1x4096,0x5')).toThrow("'0x5' is not BATCHxCONTEXT");
    expect(() => parseDecodeCases('16')).toThrow("'16' is not BATCHxCONTEXT");
    expect(() => parseDecodeCases('1x8,1x8')).toThrow("'1x8' is listed twice");
  });

  it('runs explicit cases in order, else contexts outer and batches inner', () => {
    expect(caseList({ batches: [1, 2], contexts: [10, 20] })).toEqual([
      { batch: 1, context: 10 },
      { batch: 2, context: 10 },
      { batch: 1, context: 20 },
      { batch: 2, context: 20 },
    ]);
    const cases = [{ batch: 5, context: 9 }];
    expect(caseList({ batches: [1], contexts: [1], cases })).toEqual(cases);
  });
});

describe('bench decode --baseline', () => {
  const peer = parsePeerReport(peerDoc, 'peer.json');

  it('checks the peer report field by field, naming the file and the field', () => {
    expect(peer.results[2]).toEqual({ batch: 1, context: 32768, ranBatch: 0, skipped: 'out of memory' });
    expect(peer.generate?.msPerToken).toBe(25);
    const bad = (doc: unknown) => () => parsePeerReport(doc, 'p.json');
    expect(bad([])).toThrow(DecodeBaselineError);
    expect(bad({ results: [] })).toThrow("--baseline p.json: the report has no 'source' string");
    expect(bad({ ...peerDoc, results: [{ ...peerDoc.results[0], batch: 0 }] })).toThrow("results[0] 'batch' must be a positive integer, got 0");
    expect(bad({ ...peerDoc, results: [{ ...peerDoc.results[0], ranBatch: 2 }] })).toThrow('results[0] ran 2 sequences, more than its batch 1');
    expect(bad({ ...peerDoc, results: [{ batch: 1, context: 2, ranBatch: 1 }] })).toThrow("results[0] has neither 'stepMs' nor 'skipped'");
    expect(bad({ ...peerDoc, results: [peerDoc.results[0], peerDoc.results[0]] })).toThrow('results[1] repeats batch 1 context 4096');
    expect(bad({ ...peerDoc, generate: { ...peerDoc.generate, msPerToken: 'x' } })).toThrow("generate 'msPerToken' must be a positive number");
    expect(() => checkBaselinePreset(peer, 'llama-2-7b', 'p.json')).toThrow("is for preset 'llama-3-8b', this run is 'llama-2-7b'");
    expect(() => checkBaselinePreset(peer, null, 'p.json')).not.toThrow();
  });

  it('step bytes: the weights but the embedding table once, plus the batch KV at the context', () => {
    const weights = 2 * (8_030_261_248 - 128256 * 4096);
    expect(decodeStepBytes(report, { ranBatch: 1, context: 4096 })).toBe(weights + 4096 * 131072);
    expect(decodeStepBytes(report, { ranBatch: 110, context: 4096 })).toBe(weights + 110 * 4096 * 131072);
    const tied = { ...report, modelConfig: { ...report.modelConfig, tieWordEmbeddings: true } };
    expect(decodeStepBytes(tied, { ranBatch: 0, context: 1 })).toBe(2 * 8_030_261_248);
    // tp 2: layer weights halved, lm_head replicated; tknp 2: the KV spread over two ranks.
    const tp2 = { ...report, tensorParallelSize: 2, tokenParallelSize: 2, kv: { ...report.kv, bytesPerToken: 65536 } };
    const layers = 8_030_261_248 - 2 * 128256 * 4096 - 4096;
    expect(decodeStepBytes(tp2, { ranBatch: 4, context: 100 })).toBe(2 * (layers / 2 + 128256 * 4096 + 4096) + (4 * 100 * 65536) / 2);
  });

  it('joins cases: ratio of tokens/s, flagged where the batches run differ; roofline at the peer-measured bandwidth', () => {
    const copy = rooflineCopy(undefined, peer)!;
    expect(copy.gbps).toBe(2800);
    expect(copy.source).toContain('measured by the PyTorch peer');
    expect(rooflineCopy(3000, peer)).toEqual({ gbps: 3000, source: '--copy-gbps' });
    expect(() => rooflineCopy(-1, peer)).toThrow('--copy-gbps must be a positive number');
    const c = compareDecode(report, peer, copy.gbps);
    expect(c[0].ratio).toBeCloseTo(50 / 125, 12);
    expect(c[0].sameBatch).toBe(true);
    expect(ratioCell(c[0])).toBe('0.40');
    expect(c[1].ratio).toBeCloseTo(1100 / 3000, 12);
    expect(ratioCell(c[1])).toBe('0.37*');
    expect(c[2].ratio).toBeUndefined();
    expect(c[2].peer?.skipped).toBe('out of memory');
    const bytes = 2 * (8_030_261_248 - 128256 * 4096) + 4096 * 131072;
    expect(c[0].rooflineMs).toBeCloseTo(bytes / 2.8e9, 12);
    expect(c[0].pctOfRoofline).toBeCloseTo((100 * bytes) / 2.8e9 / 20, 10);
    expect(c[0].recordMs).toBe(3.5);
  });

  it('renders the table, the one-line comparison, the side rows, Markdown, HTML and JSON', () => {
    const s = decodeSummary(report, { ...peer, file: 'peer.json' }, undefined);
    const table = renderDecodeTable(report, s.comparison);
    expect(table).toMatch(/PyTorch tokens\/s\s+× PyTorch\s+% roofline/);
    expect(table).toMatch(/125\.0 \(1\)\s+0\.40/);
    expect(compareLine(s)).toBe(
      `compare: 1x4096: 50.0 tok/s, PyTorch 125.0 (0.40×), ${s.comparison[0].pctOfRoofline!.toFixed(0)}% of roofline; 128x4096: 1100.0 tok/s, PyTorch 3000.0 (0.37*×), ${s.comparison[1].pctOfRoofline!.toFixed(0)}% of roofline; 1x32768: skipped`,
    );
    const side = sideLines(s);
    expect(side[0]).toBe('Time to first token, one 4096-token prompt: tknp 450.0 ms (median of 3 after a warm-up; 9102 prompt tokens/s); PyTorch 300.0 ms (eager); tknp is 0.67× PyTorch\'s speed');
    expect(side[1]).toContain('transformers generate (batch 1, context 4096, 32 tokens; transformers 5): 25.00 ms/token = 40.0 tokens/s; its time to first token 350 ms');
    const md = renderDecodeMarkdown(s);
    expect(md).toContain('| 128 | 4096 | 110 | 100.00 | 1100.0 | 3.50 | 120 | 40.00 | 3000.0 | 0.37* |');
    expect(md).toContain('| 1 | 32768 | 0 | skipped: too long | — | — | 0 | skipped: out of memory | — | — |');
    const html = renderDecodeHtml(s);
    expect(html).toContain('<svg');
    expect(html).toContain('decode tokens/s, context 4096');
    const json = decodeSummaryJson(s) as { baseline: { file: string }; comparison: unknown[]; rooflineCopy: { gbps: number } };
    expect(json.baseline.file).toBe('peer.json');
    expect(json.comparison).toHaveLength(3);
    expect(json.rooflineCopy.gbps).toBe(2800);
    // No baseline, no bandwidth: no comparison columns, the header says what is missing.
    const alone = decodeSummary(report, undefined, undefined);
    expect(alone.comparison[0].rooflineMs).toBeUndefined();
    expect(renderDecodeMarkdown(alone)).toContain('PyTorch: no baseline');
  });
});
