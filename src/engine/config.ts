// EngineConfig: the one readonly configuration of an LLM engine, like vLLM's EngineArgs,
// validated once by a pure function that throws a named error naming the field.
import { QUANTIZATIONS, type Quantization } from '../quant/weight_format.js';

export { QUANTIZATIONS, type Quantization };

export class EngineConfigError extends Error {
  override readonly name = 'EngineConfigError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

export interface EngineConfig {
  /** Hugging Face model directory. */
  readonly model: string;
  /** Tensor-parallel ranks (TP group size). */
  readonly tensorParallelSize: number;
  /** Token-parallel ranks (each holds the KV cache of a subset of the requests). */
  readonly tokenParallelSize: number;
  /** Fraction of GPU memory the engine may use (weights + activations + KV). */
  readonly gpuMemoryUtilization: number;
  /** Explicit KV cache budget per rank in bytes (overrides gpuMemoryUtilization). */
  readonly kvCacheBytes: number | undefined;
  /** Total GPU memory in bytes when the platform cannot report it (WebGPU cannot). */
  readonly gpuMemoryBytes: number | undefined;
  /** Token budget of one step (prefill chunks + decodes). */
  readonly maxNumBatchedTokens: number;
  /** Most sequences in one step. */
  readonly maxNumSeqs: number;
  /** Longest prompt + output; default: the model's max_position_embeddings. */
  readonly maxModelLen: number | undefined;
  /** Batch-invariant kernels (bitwise same output whatever the batch); default true. */
  readonly batchInvariant: boolean;
  readonly backend: string | undefined;
  /** Dawn's bounds clamps on shader memory accesses (for debugging a kernel); default: env TKNP_ROBUSTNESS, else off. */
  readonly robustness: boolean | undefined;
  readonly adapter: string | undefined;
  /** Print weight-loading progress and start-up lines on stderr. */
  readonly quiet: boolean;
  /** Record per-step communication and remote-attention times (tknp/tp > 1); one rank: GPU ms per kernel. */
  readonly profile: boolean;
  /**
   * Submit the recorded commands every N layers, so the GPU starts on the first layers while the CPU
   * records the rest (0: one submit per step). Same commands, same results.
   */
  readonly submitEveryLayers: number;
  /**
   * Record every step's commands afresh (like vLLM's enforce_eager, which turns CUDA graphs off):
   * otherwise a decode step whose shape was seen before replays that step's captured dispatches
   * (src/gpu/step_capture.ts), which costs the CPU a fraction of recording. Same commands, same results.
   */
  readonly enforceEager: boolean;
  /** Bound on every collective between ranks (ms): a dead or hung rank fails requests within it. */
  readonly commTimeoutMs: number;
  /** Nodes of a multi-node job started with tknp's own launcher (torchrun-like); 1 = this machine. */
  readonly nnodes: number;
  /** This node's index (0 runs the engine). */
  readonly nodeRank: number;
  /** Address of node 0 (rendezvous store); also the address other nodes reach node 0's ranks at. */
  readonly masterAddr: string;
  readonly masterPort: number;
  /** Data plane between ranks: NCCL (a GPU per rank), sockets, or 'auto' (NCCL where usable). */
  readonly communicator: 'auto' | 'socket' | 'nccl';
  /**
   * Where weights come from: the model directory's safetensors, or 'dummy' (like vLLM's
   * load_format='dummy'): seeded random values made on the GPU, only config.json is read.
   */
  readonly loadFormat: 'safetensors' | 'dummy';
  /**
   * Automatic prefix caching (vLLM's enable_prefix_caching, on by default): the KV of full
   * 16-token blocks a prompt shares with earlier prompts is reused instead of recomputed, each
   * token-parallel rank with its own cache. Outputs are bitwise the same either way.
   */
  readonly enablePrefixCaching: boolean;
  /**
   * Weights quantized at load from an f16/bf16/f32 checkpoint (vLLM's `quantization`; docs/QUANTIZATION.md):
   * 'int8' per-output-channel symmetric int8, 'int4' group-wise (128) asymmetric 4-bit, 'w8a8' the int8
   * weights with activations quantized per token to int8 (int8 tensor cores). 'none': the checkpoint's
   * own format (f16, or an AWQ / GPTQ checkpoint's, read from config.json's quantization_config).
   * Projections only: embeddings, norms and lm_head stay f16.
   */
  readonly quantization: Quantization;
}


export const ENGINE_DEFAULTS: Omit<EngineConfig, 'model'> = {
  tensorParallelSize: 1,
  tokenParallelSize: 1,
  gpuMemoryUtilization: 0.9,
  kvCacheBytes: undefined,
  gpuMemoryBytes: undefined,
  maxNumBatchedTokens: 2048,
  maxNumSeqs: 256,
  maxModelLen: undefined,
  batchInvariant: true,
  backend: undefined,
  robustness: undefined,
  adapter: undefined,
  quiet: false,
  profile: false,
  submitEveryLayers: 4,
  enforceEager: false,
  commTimeoutMs: 30_000,
  nnodes: 1,
  nodeRank: 0,
  masterAddr: '127.0.0.1',
  masterPort: 29500,
  communicator: 'auto',
  loadFormat: 'safetensors',
  enablePrefixCaching: true,
  quantization: 'none',
};

function int(field: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new EngineConfigError(field, `must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  }
  return v;
}

/** Fills defaults and validates; throws EngineConfigError for the first bad field. */
export function resolveEngineConfig(partial: Partial<EngineConfig> & { model: string }): EngineConfig {
  const c = { ...ENGINE_DEFAULTS, ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) } as EngineConfig;
  if (typeof c.model !== 'string' || c.model.length === 0) throw new EngineConfigError('model', 'a model directory is required');
  int('tensorParallelSize', c.tensorParallelSize, 1, 64);
  int('tokenParallelSize', c.tokenParallelSize, 1, 64);
  if (!(typeof c.gpuMemoryUtilization === 'number' && c.gpuMemoryUtilization > 0 && c.gpuMemoryUtilization <= 1)) {
    throw new EngineConfigError('gpuMemoryUtilization', `must be in (0, 1], got ${JSON.stringify(c.gpuMemoryUtilization)}`);
  }
  if (c.kvCacheBytes !== undefined) int('kvCacheBytes', c.kvCacheBytes, 1);
  if (c.gpuMemoryBytes !== undefined) int('gpuMemoryBytes', c.gpuMemoryBytes, 1);
  int('maxNumBatchedTokens', c.maxNumBatchedTokens, 1, 1 << 20);
  int('maxNumSeqs', c.maxNumSeqs, 1, 1 << 16);
  if (c.maxModelLen !== undefined) int('maxModelLen', c.maxModelLen, 1);
  int('commTimeoutMs', c.commTimeoutMs, 100, 3_600_000);
  int('submitEveryLayers', c.submitEveryLayers, 0, 1024);
  if (typeof c.enforceEager !== 'boolean') throw new EngineConfigError('enforceEager', `must be true or false, got ${JSON.stringify(c.enforceEager)}`);
  int('nnodes', c.nnodes, 1, 1024);
  int('nodeRank', c.nodeRank, 0, c.nnodes - 1);
  int('masterPort', c.masterPort, 1, 65535);
  if ((c.tensorParallelSize * c.tokenParallelSize) % c.nnodes !== 0) {
    throw new EngineConfigError('nnodes', `tp ${c.tensorParallelSize} × tknp ${c.tokenParallelSize} ranks do not split evenly over ${c.nnodes} nodes`);
  }
  if (!['auto', 'socket', 'nccl'].includes(c.communicator)) throw new EngineConfigError('communicator', `must be auto, socket or nccl, got ${JSON.stringify(c.communicator)}`);
  if (typeof c.enablePrefixCaching !== 'boolean') throw new EngineConfigError('enablePrefixCaching', `must be true or false, got ${JSON.stringify(c.enablePrefixCaching)}`);
  if (!(QUANTIZATIONS as readonly unknown[]).includes(c.quantization)) throw new EngineConfigError('quantization', `must be ${QUANTIZATIONS.join(', ')}, got ${JSON.stringify(c.quantization)}`);
  if (!['safetensors', 'dummy'].includes(c.loadFormat)) throw new EngineConfigError('loadFormat', `must be safetensors or dummy, got ${JSON.stringify(c.loadFormat)}`);
  return Object.freeze(c);
}
