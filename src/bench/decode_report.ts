// The stdout table of `tknp bench decode` (the JSON report is the DecodeBenchReport itself).
import type { DecodeBenchReport, DecodeCaseResult } from './decode.js';
import { ratioCell, type DecodeComparison } from './decode_baseline.js';

function pad(s: string, n: number, left = false): string {
  return left ? s.padEnd(n) : s.padStart(n);
}

function fmt(x: number, digits = 1): string {
  return x.toFixed(digits);
}

function fitCell(r: DecodeCaseResult): string {
  if (r.fit) return 'yes';
  return `no (${r.limitedBy}; max ${r.maxBatchThatFits})`;
}

function prefillCell(r: DecodeCaseResult): string {
  if (!r.prefill) return '-';
  if (r.prefill.mode === 'skip') return `${r.prefill.tokens} tok skipped`;
  return `${r.prefill.tokens} tok ${fmt(r.prefill.seconds)} s`;
}

/** One line per rank of the mean --profile counters (ms per timed step). */
export function profileLines(r: DecodeCaseResult): string[] {
  if (!r.profile) return [];
  return r.profile.map((p, rank) => {
    const parts = Object.entries(p)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${fmt(v, 2)}`);
    return `    rank ${rank}: ${parts.join(', ') || '(no communication)'}`;
  });
}

/** The stdout table; with `comparison` (--baseline or a roofline bandwidth), PyTorch's tokens/s, the ratio and % of the bytes roofline too. */
export function renderDecodeTable(rep: DecodeBenchReport, comparison?: readonly DecodeComparison[]): string {
  const lines: string[] = [];
  const params = rep.modelConfig.parameters;
  const size = params >= 1e9 ? `${fmt(params / 1e9, 2)}B` : `${fmt(params / 1e6, 1)}M`;
  lines.push(
    `tknp bench decode: ${rep.preset ?? rep.model} (${size} parameters, ${rep.loadFormat} weights${rep.weightFormat && rep.weightFormat !== 'f16' ? `, ${rep.weightFormat}` : ''}), tp ${rep.tensorParallelSize} × tknp ${rep.tokenParallelSize} = ${rep.worldSize} GPU${rep.worldSize > 1 ? 's' : ''}; ${rep.results[0]?.steps ?? 0} timed decode steps after ${rep.warmupSteps} warm-up; started in ${fmt(rep.startSeconds)} s`,
  );
  const kv = rep.kv.numBlocksPerRank.map((n, k) => `tknp ${k}: ${n} blocks = ${n * 16} tokens`).join(', ');
  lines.push(`KV cache per token-parallel rank: ${kv}; total ${rep.kv.totalTokens} tokens (${fmt(rep.kv.bytesPerToken / 1024, 1)} KiB of KV per token per GPU)`);
  const extra = comparison ? ['PyTorch tokens/s', '× PyTorch', '% roofline'] : [];
  const head = ['batch', 'context', 'ran', 'fit', 'per rank', 'prefill', 'step ms mean', 'p50', 'p90', 'tokens/s', 'tokens/s/GPU', ...extra];
  const extraCells = (j: number): string[] => {
    const c = comparison?.[j];
    if (!c) return [];
    const peer = c.peer?.tokensPerSecond !== undefined ? `${fmt(c.peer.tokensPerSecond)} (${c.peer.ranBatch})` : c.peer?.skipped ? 'skipped' : '-';
    return [peer, ratioCell(c), c.pctOfRoofline !== undefined ? fmt(c.pctOfRoofline, 0) : '-'];
  };
  const rows = rep.results.map((r, j) =>
    r.skipped
      ? [String(r.batch), String(r.context), '0', fitCell(r), '-', '-', `skipped: ${r.skipped}`, '', '', '', '', ...extraCells(j).map(() => '')]
      : [
          String(r.batch),
          String(r.context),
          String(r.ranBatch),
          fitCell(r),
          r.seqsPerRank.join('/'),
          prefillCell(r),
          fmt(r.stepMs!.mean, 2),
          fmt(r.stepMs!.p50, 2),
          fmt(r.stepMs!.p90, 2),
          fmt(r.tokensPerSecond!),
          fmt(r.tokensPerSecondPerGpu!),
          ...extraCells(j),
        ],
  );
  const widths = head.map((h, i) => Math.max(h.length, ...rows.filter((r) => !r[6].startsWith('skipped')).map((r) => r[i].length)));
  const textCols = new Set([3, 5, ...(comparison ? [11] : [])]);
  lines.push(head.map((h, i) => pad(h, widths[i], textCols.has(i))).join('  '));
  rep.results.forEach((r, j) => {
    const cells = rows[j];
    if (r.skipped) lines.push(`${cells.slice(0, 6).map((c, i) => pad(c, widths[i], textCols.has(i))).join('  ')}  ${cells[6]}`);
    else lines.push(cells.map((c, i) => pad(c, widths[i], textCols.has(i))).join('  '));
    if (r.recordMs !== undefined) lines.push(`  CPU ms to record a step: ${fmt(r.recordMs, 2)}`);
    if (r.profile) {
      lines.push('  step breakdown (ms per step, summed over layers):');
      lines.push(...profileLines(r));
    }
  });
  return lines.join('\n');
}
