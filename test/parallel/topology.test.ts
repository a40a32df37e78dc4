import { describe, expect, it } from 'vitest';
import { launchEnv, LaunchEnvError } from '../../src/parallel/launch_env.js';
import { topology, TopologyError } from '../../src/parallel/topology.js';

describe('topology', () => {
  it('lays out tp=2 × tknp=4 with contiguous TP groups and strided token-parallel groups', () => {
    const t = topology(5, 2, 4);
    expect(t).toMatchObject({ worldSize: 8, tpRank: 1, tknpRank: 2, isRoot: false, isDriver: false });
    expect(t.tpGroup).toEqual([4, 5]);
    expect(t.tknpGroup).toEqual([1, 3, 5, 7]);
    expect(topology(1, 2, 4)).toMatchObject({ isRoot: true, isDriver: false, tknpRank: 0 });
    expect(() => topology(8, 2, 4)).toThrow(TopologyError);
  });
});

describe('launchEnv', () => {
  it('reads torchrun and SLURM variables and defaults to one process', () => {
    expect(launchEnv({ RANK: '3', WORLD_SIZE: '4', LOCAL_RANK: '1', MASTER_ADDR: 'h0', MASTER_PORT: '1234' })).toEqual({
      rank: 3, worldSize: 4, localRank: 1, masterAddr: 'h0', masterPort: 1234, source: 'torchrun',
    });
    expect(launchEnv({ SLURM_PROCID: '2', SLURM_NTASKS: '8', SLURM_LOCALID: '2', MASTER_ADDR: 'n1' })).toMatchObject({ rank: 2, worldSize: 8, localRank: 2, source: 'slurm' });
    expect(launchEnv({})).toMatchObject({ rank: 0, worldSize: 1, source: 'none' });
    expect(() => launchEnv({ RANK: '4', WORLD_SIZE: '4' })).toThrow(LaunchEnvError);
    expect(() => launchEnv({ RANK: 'x', WORLD_SIZE: '4' })).toThrow(/RANK=x/);
    expect(() => launchEnv({ SLURM_PROCID: '0', SLURM_NTASKS: '2' })).toThrow(/MASTER_ADDR/);
  });
});
