// Command-line options shared by `generate`, `serve` and `bench decode`: the engine's
// configuration and the sampling parameters, mapped onto EngineConfig / SamplingParamsInput.
import { join } from 'node:path';
import type { Argv } from 'yargs';
import { QUANTIZATIONS, type EngineConfig, type Quantization } from '../engine/config.js';
import type { SamplingParamsInput } from '../engine/sampling_params.js';
import { packageRoot } from '../util/package_root.js';

/** models/default of the package (the embedded demo model). */
export function defaultModelDir(): string {
  return join(packageRoot(import.meta.url) ?? process.cwd(), 'models', 'default');
}

export function engineOptions<T>(y: Argv<T>) {
  return y
    .option('model', { alias: 'm', type: 'string', describe: 'Hugging Face model directory (default: the embedded demo model)' })
    .option('tp', { type: 'number', default: 1, describe: 'tensor-parallel size' })
    .option('tknp', { type: 'number', default: 1, describe: 'token-parallel size (KV cache spread over ranks)' })
    .option('max-num-seqs', { type: 'number', describe: 'most sequences per step' })
    .option('max-num-batched-tokens', { type: 'number', describe: 'token budget per step' })
    .option('max-model-len', { type: 'number', describe: 'longest prompt + output' })
    .option('gpu-memory-utilization', { type: 'number', describe: 'fraction of GPU memory to use (default 0.9)' })
    .option('gpu-memory', { type: 'number', describe: 'GPU memory in GiB, where the platform cannot report it' })
    .option('kv-cache-memory', { type: 'number', describe: 'KV cache per rank in GiB (overrides utilization)' })
    .option('fast', { type: 'boolean', default: false, describe: 'allow faster kernels that are not batch-invariant' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no progress or start-up lines on stderr' })
    .option('profile', { type: 'boolean', default: false, describe: 'time communication and per-rank attention of each step (tp/tknp > 1); with one rank, the GPU time of every kernel (slower steps)' })
    .option('submit-every-layers', { type: 'number', default: 4, describe: 'submit the recorded step every N layers so the GPU starts early (0: once per step; default 4: 2.4× decode tokens/s at batch 1 on an H100, bench/RESULTS.md)' })
    .option('enforce-eager', { type: 'boolean', default: false, describe: 'record every step afresh instead of replaying captured decode steps (debugging; slower on the CPU)' })
    .option('comm-timeout', { type: 'number', default: 30, describe: 'seconds before a silent rank fails every request' })
    .option('nnodes', { type: 'number', default: 1, describe: 'nodes of a multi-node job (torchrun-like); run tknp on each' })
    .option('node-rank', { type: 'number', default: 0, describe: "this node's index (0 runs the engine)" })
    .option('master-addr', { type: 'string', default: '127.0.0.1', describe: 'address of node 0' })
    .option('master-port', { type: 'number', default: 29500, describe: 'rendezvous port on node 0' })
    .option('enable-prefix-caching', { type: 'boolean', default: true, describe: 'reuse the KV cache of prompt prefixes shared with earlier requests (--no-enable-prefix-caching: recompute every prompt)' })
    .option('quantization', { choices: QUANTIZATIONS, default: 'none' as const, describe: "quantize the weights at load: int8 (per channel), int4 (groups of 128, asymmetric), w8a8 (int8 weights and activations); 'none': the checkpoint's format (f16, or AWQ / GPTQ from its quantization_config)" })
    .option('comm', { choices: ['auto', 'socket', 'nccl'] as const, default: 'auto' as const, describe: 'data plane between ranks (nccl: one GPU per rank)' });
}

export interface EngineArgs {
  model?: string;
  tp: number;
  tknp: number;
  'max-num-seqs'?: number;
  'max-num-batched-tokens'?: number;
  'max-model-len'?: number;
  'gpu-memory-utilization'?: number;
  'gpu-memory'?: number;
  'kv-cache-memory'?: number;
  fast: boolean;
  quiet: boolean;
  profile: boolean;
  'submit-every-layers': number;
  'enforce-eager': boolean;
  'comm-timeout': number;
  comm: 'auto' | 'socket' | 'nccl';
  'enable-prefix-caching': boolean;
  quantization: Quantization;
  nnodes: number;
  'node-rank': number;
  'master-addr': string;
  'master-port': number;
  backend?: string;
  adapter?: string;
  robustness?: boolean;
}

const GiB = 2 ** 30;

export function engineConfigFrom(a: EngineArgs): Partial<EngineConfig> & { model: string } {
  return {
    model: a.model ?? defaultModelDir(),
    tensorParallelSize: a.tp,
    tokenParallelSize: a.tknp,
    maxNumSeqs: a['max-num-seqs'],
    maxNumBatchedTokens: a['max-num-batched-tokens'],
    maxModelLen: a['max-model-len'],
    gpuMemoryUtilization: a['gpu-memory-utilization'],
    gpuMemoryBytes: a['gpu-memory'] !== undefined ? Math.round(a['gpu-memory'] * GiB) : undefined,
    kvCacheBytes: a['kv-cache-memory'] !== undefined ? Math.round(a['kv-cache-memory'] * GiB) : undefined,
    batchInvariant: !a.fast,
    quiet: a.quiet,
    profile: a.profile,
    submitEveryLayers: a['submit-every-layers'],
    enforceEager: a['enforce-eager'],
    commTimeoutMs: Math.round(a['comm-timeout'] * 1000),
    communicator: a.comm,
    enablePrefixCaching: a['enable-prefix-caching'],
    quantization: a.quantization,
    nnodes: a.nnodes,
    nodeRank: a['node-rank'],
    masterAddr: a['master-addr'],
    masterPort: a['master-port'],
    backend: a.backend,
    robustness: a.robustness,
    adapter: a.adapter,
  };
}

export function samplingOptions<T>(y: Argv<T>) {
  return y
    .option('max-tokens', { alias: 'n', type: 'number', describe: 'tokens to generate (default: generation_config or 16)' })
    .option('temperature', { alias: 't', type: 'number', describe: '0 = greedy' })
    .option('top-k', { type: 'number' })
    .option('top-p', { type: 'number' })
    .option('seed', { type: 'number' })
    .option('stop', { type: 'string', array: true, describe: 'stop string (repeatable)' })
    .option('stop-token-ids', { type: 'number', array: true })
    .option('ignore-eos', { type: 'boolean' })
    .option('min-tokens', { type: 'number' });
}

export interface SamplingArgs {
  'max-tokens'?: number;
  temperature?: number;
  'top-k'?: number;
  'top-p'?: number;
  seed?: number;
  stop?: string[];
  'stop-token-ids'?: number[];
  'ignore-eos'?: boolean;
  'min-tokens'?: number;
}

export function samplingOptionsFrom(a: SamplingArgs): SamplingParamsInput {
  return {
    maxTokens: a['max-tokens'],
    temperature: a.temperature,
    topK: a['top-k'],
    topP: a['top-p'],
    seed: a.seed,
    stop: a.stop,
    stopTokenIds: a['stop-token-ids'],
    ignoreEos: a['ignore-eos'],
    minTokens: a['min-tokens'],
  };
}
