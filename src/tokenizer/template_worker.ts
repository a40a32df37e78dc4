// Worker thread that renders chat templates for ChatTemplate (chat_template.ts). A request comes
// on the port in workerData; the reply goes back on it, then the shared flag is set and
// notified, so the main thread can wait for it synchronously (Atomics.wait) with a timeout and
// terminate this thread when a template runs away.
import { workerData, type MessagePort } from 'node:worker_threads';
import { Environment, Template } from '@huggingface/jinja';
import type { RenderLimits, RenderReply, RenderRequest } from './chat_template.js';

const { port, flag, limits } = workerData as { port: MessagePort; flag: SharedArrayBuffer; limits: RenderLimits };
const done = new Int32Array(flag);
const templates = new Map<string, Template>();

/** Jinja's range() with a cap on the items it makes: range(100000000) fails at once. */
function boundedRange(start: number, stop?: number, step = 1): number[] {
  const [a, b] = stop === undefined ? [0, start] : [start, stop];
  if (step === 0) throw new Error('range() step must not be zero');
  const n = Math.max(0, Math.ceil((b - a) / step));
  if (!(n <= limits.maxRangeItems)) throw new Error(`range() of ${n} items is more than the ${limits.maxRangeItems} a chat template may make`);
  return Array.from({ length: n }, (_, i) => a + i * step);
}

// Template.render declares its globals with Environment.set, and a render context may not declare
// them again: the global range is swapped for boundedRange here (this thread only renders).
const declare = Environment.prototype.set;
Environment.prototype.set = function (this: Environment, name: string, value: unknown) {
  return declare.call(this, name, name === 'range' ? boundedRange : value);
};

function render(r: RenderRequest): RenderReply {
  try {
    let t = templates.get(r.source);
    if (!t) templates.set(r.source, (t = new Template(r.source)));
    const text = t.render(r.context as Record<string, unknown>);
    if (text.length > limits.maxOutputChars) return { error: `rendered ${text.length} characters, more than the ${limits.maxOutputChars} a chat template may produce` };
    return { text };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

port.on('message', (r: RenderRequest) => {
  port.postMessage(render(r));
  Atomics.store(done, 0, 1);
  Atomics.notify(done, 0);
});
