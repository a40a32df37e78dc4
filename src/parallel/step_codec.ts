// The messages the driver broadcasts to every rank each step, as compact bytes: a JSON header
// (scalars, ids, array lengths) followed by the typed arrays, 4-byte aligned.
import type { FlatBatch, RankBatch } from '../scheduler/scheduler_output.js';

export type DriverMessage = { kind: 'step'; flat: FlatBatch; profile: boolean } | { kind: 'shutdown'; reason: string };

type Arrays = Uint32Array[];

function pushArray(arrays: Arrays, a: Uint32Array): number {
  arrays.push(a);
  return arrays.length - 1;
}

export function encodeMessage(m: DriverMessage): Uint8Array {
  if (m.kind === 'shutdown') return frame({ kind: 'shutdown', reason: m.reason }, []);
  const f = m.flat;
  const arrays: Arrays = [];
  const header = {
    kind: 'step',
    profile: m.profile,
    stepId: f.stepId,
    numTokens: f.numTokens,
    maxBlocksPerSeq: f.maxBlocksPerSeq,
    sampledRequestIds: f.sampledRequestIds,
    inputIds: pushArray(arrays, f.inputIds),
    positions: pushArray(arrays, f.positions),
    logitsIndices: pushArray(arrays, f.logitsIndices),
    ranks: f.ranks.map((r) => ({
      rank: r.rank,
      tokenStart: r.tokenStart,
      numTokens: r.numTokens,
      numDecodes: r.numDecodes,
      numPrefills: r.numPrefills,
      requestIds: r.requestIds,
      maxDecodeSeqLen: r.maxDecodeSeqLen,
      maxPrefillQueryLen: r.maxPrefillQueryLen,
      slotMapping: pushArray(arrays, r.slotMapping),
      queryStartLoc: pushArray(arrays, r.queryStartLoc),
      seqLens: pushArray(arrays, r.seqLens),
      blockTables: pushArray(arrays, r.blockTables),
    })),
  };
  return frame(header, arrays);
}

function frame(header: object, arrays: Arrays): Uint8Array {
  const json = Buffer.from(JSON.stringify({ ...header, lengths: arrays.map((a) => a.length) }), 'utf8');
  const headerLen = Math.ceil(json.length / 4) * 4;
  const total = 4 + headerLen + arrays.reduce((n, a) => n + a.byteLength, 0);
  const out = new Uint8Array(total);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 4);
  let pos = 4 + headerLen;
  for (const a of arrays) {
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), pos);
    pos += a.byteLength;
  }
  return out;
}

export function decodeMessage(bytes: Uint8Array): DriverMessage {
  const copy = bytes.byteOffset % 4 === 0 ? bytes : new Uint8Array(bytes);
  const jsonLen = new DataView(copy.buffer, copy.byteOffset).getUint32(0, true);
  const h = JSON.parse(Buffer.from(copy.buffer, copy.byteOffset + 4, jsonLen).toString('utf8')) as Record<string, unknown> & { lengths: number[] };
  if (h.kind === 'shutdown') return { kind: 'shutdown', reason: String(h.reason) };
  const arrays: Uint32Array[] = [];
  let pos = copy.byteOffset + 4 + Math.ceil(jsonLen / 4) * 4;
  for (const n of h.lengths) {
    arrays.push(new Uint32Array(copy.buffer, pos, n));
    pos += n * 4;
  }
  type RankHeader = Omit<RankBatch, 'slotMapping' | 'queryStartLoc' | 'seqLens' | 'blockTables'> & Record<'slotMapping' | 'queryStartLoc' | 'seqLens' | 'blockTables', number>;
  const ranks = (h.ranks as RankHeader[]).map((r) => ({
    ...r,
    slotMapping: arrays[r.slotMapping],
    queryStartLoc: arrays[r.queryStartLoc],
    seqLens: arrays[r.seqLens],
    blockTables: arrays[r.blockTables],
  }));
  const flat: FlatBatch = {
    stepId: h.stepId as number,
    numTokens: h.numTokens as number,
    maxBlocksPerSeq: h.maxBlocksPerSeq as number,
    sampledRequestIds: h.sampledRequestIds as string[],
    inputIds: arrays[h.inputIds as number],
    positions: arrays[h.positions as number],
    logitsIndices: arrays[h.logitsIndices as number],
    ranks,
  };
  return { kind: 'step', flat, profile: h.profile === true };
}
