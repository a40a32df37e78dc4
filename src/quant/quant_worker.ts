// A thread of the at-load quantization pool (quant_pool.ts): decodes a block of rows (checked as
// Checkpoint.readF16 checks them) and quantizes it (packed_weight.ts quantizeF16), sending the packed
// arrays back by transfer. Started by file from dist/ (util/compiled_path.ts).
import { parentPort } from 'node:worker_threads';
import { decodeF16 } from '../loader/f16_decode.js';
import { ModelLoadError } from '../loader/errors.js';
import { quantizeF16 } from './packed_weight.js';
import type { QuantReply, QuantTask } from './quant_task.js';

const port = parentPort;
if (!port) throw new Error('quant_worker.js runs as a worker thread of the at-load quantization pool (src/quant/quant_pool.ts)');

port.on('message', (t: QuantTask) => {
  const t0 = performance.now();
  let reply: QuantReply;
  const transfer: ArrayBuffer[] = [];
  try {
    const w = decodeF16(t.path, t.name, t.dtype, t.raw, t.indexBase);
    const p = quantizeF16(w, [t.rows, t.K], t.bits, t.groupSize, t.symmetric);
    reply = { id: t.id, qweight: p.qweight, scales: p.scales, zeros: p.zeros, ms: performance.now() - t0 };
    for (const a of [p.qweight, p.scales, p.zeros]) if (a) transfer.push(a.buffer as ArrayBuffer);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    const load = err instanceof ModelLoadError ? { file: err.file, problem: err.problem, field: err.field } : {};
    reply = { id: t.id, error: { name: err.name, message: err.message, ...load } };
  }
  port.postMessage(reply, transfer);
});
