// Recognises ranks started by an existing launcher (torchrun, srun) or by tknp's own, from
// the environment, so clusters run tknp with the tools they already use.

export interface LaunchEnv {
  readonly rank: number;
  readonly worldSize: number;
  readonly localRank: number;
  readonly masterAddr: string;
  readonly masterPort: number;
  /** Which launcher set these: 'tknp', 'torchrun', 'slurm' or 'none' (single process). */
  readonly source: 'tknp' | 'torchrun' | 'slurm' | 'none';
}

export class LaunchEnvError extends Error {
  override readonly name = 'LaunchEnvError';
}

function intVar(env: NodeJS.ProcessEnv, key: string): number | undefined {
  const v = env[key];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new LaunchEnvError(`${key}=${v} is not a non-negative integer`);
  return n;
}

/** Reads RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR/MASTER_PORT, or SLURM_PROCID/NTASKS/LOCALID. */
export function launchEnv(env: NodeJS.ProcessEnv = process.env): LaunchEnv {
  const masterAddr = env.MASTER_ADDR ?? '127.0.0.1';
  const masterPort = intVar(env, 'MASTER_PORT') ?? 29500;
  const rank = intVar(env, 'RANK');
  const worldSize = intVar(env, 'WORLD_SIZE');
  if (rank !== undefined || worldSize !== undefined) {
    if (rank === undefined || worldSize === undefined) throw new LaunchEnvError('RANK and WORLD_SIZE must be set together');
    if (rank >= worldSize) throw new LaunchEnvError(`RANK=${rank} must be < WORLD_SIZE=${worldSize}`);
    return { rank, worldSize, localRank: intVar(env, 'LOCAL_RANK') ?? rank, masterAddr, masterPort, source: env.TKNP_LAUNCHED === '1' ? 'tknp' : 'torchrun' };
  }
  const sRank = intVar(env, 'SLURM_PROCID');
  const sSize = intVar(env, 'SLURM_NTASKS');
  if (sRank !== undefined && sSize !== undefined && sSize > 1) {
    if (env.MASTER_ADDR === undefined) throw new LaunchEnvError('under srun, set MASTER_ADDR (e.g. the first host of $SLURM_JOB_NODELIST) and MASTER_PORT');
    return { rank: sRank, worldSize: sSize, localRank: intVar(env, 'SLURM_LOCALID') ?? 0, masterAddr, masterPort, source: 'slurm' };
  }
  return { rank: 0, worldSize: 1, localRank: 0, masterAddr, masterPort, source: 'none' };
}
