// Shared helpers of the `tknp serve` tests (test/server/*): the engine they serve (the
// tiny-llama fixture with small budgets) and the check that a server has gone idle cleanly.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { LLM } from '../../src/engine/llm.js';
import type { SamplingParamsInput } from '../../src/engine/sampling_params.js';
import type { TknpServer } from '../../src/server/server.js';

export const SERVER_MODEL = 'test/fixtures/models/tiny-llama';

/** A parsed JSON body or message, read loosely. */
export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Small budgets keep lavapipe quick: 8 sequences, 64 tokens a step, 256 positions, 64 KV blocks. */
export function serverEngineOptions() {
  const c = JSON.parse(readFileSync(join(SERVER_MODEL, 'config.json'), 'utf8')) as Record<string, number>;
  const kvBytesPerBlock = 2 * c.num_hidden_layers * c.num_key_value_heads * 16 * c.head_dim * 2;
  return { model: SERVER_MODEL, quiet: true, maxNumSeqs: 8, maxNumBatchedTokens: 64, maxModelLen: 256, kvCacheBytes: 64 * kvBytesPerBlock };
}

/** Greedy decoding of exactly `maxTokens` tokens (EOS ignored). */
export function greedy(maxTokens: number): SamplingParamsInput {
  return { temperature: 0, maxTokens, ignoreEos: true };
}

/**
 * Waits (bounded) until the server's loop delivered every final output and the engine holds no
 * request, then checks that all `totalBlocks` KV blocks are free and the cache is consistent.
 */
export async function expectIdle(server: TknpServer, llm: LLM, totalBlocks: number): Promise<void> {
  for (let i = 0; i < 500 && (server.loop.numActive > 0 || llm.engine.hasUnfinishedRequests()); i++) await new Promise((r) => setTimeout(r, 10));
  expect(server.loop.numActive).toBe(0);
  expect(llm.engine.hasUnfinishedRequests()).toBe(false);
  expect(llm.engine.scheduler.numFreeBlocks(0)).toBe(totalBlocks);
  llm.engine.scheduler.kvManager(0).checkInvariants();
}
