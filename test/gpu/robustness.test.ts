// Dawn's robustness: off unless asked for (option, else TKNP_ROBUSTNESS=1), and a device made
// with it on says so in caps and describe(). Kernels are tested with it off (the default).
import { afterEach, describe, expect, it } from 'vitest';
import { Gpu } from '../../src/gpu/gpu.js';
import { resolveAdapterOptions } from '../../src/gpu/instance.js';
import { engineConfigFrom } from '../../src/cli/options.js';
import { noGpuReason, testGpu } from '../helpers/gpu.js';

const saved = process.env.TKNP_ROBUSTNESS;
afterEach(() => {
  if (saved === undefined) delete process.env.TKNP_ROBUSTNESS;
  else process.env.TKNP_ROBUSTNESS = saved;
});

describe('robustness option', () => {
  it('is off by default, on with TKNP_ROBUSTNESS=1, and an explicit option wins over the environment', () => {
    delete process.env.TKNP_ROBUSTNESS;
    expect(resolveAdapterOptions({}).robustness).toBe(false);
    process.env.TKNP_ROBUSTNESS = '1';
    expect(resolveAdapterOptions({}).robustness).toBe(true);
    expect(resolveAdapterOptions({ robustness: false }).robustness).toBe(false);
    process.env.TKNP_ROBUSTNESS = '0';
    expect(resolveAdapterOptions({}).robustness).toBe(false);
    expect(resolveAdapterOptions({ robustness: true }).robustness).toBe(true);
  });

  it('reaches the engine config from --robustness (absent: left to the environment)', () => {
    const args = { tp: 1, tknp: 1 } as unknown as Parameters<typeof engineConfigFrom>[0];
    expect(engineConfigFrom({ ...args, robustness: true }).robustness).toBe(true);
    expect(engineConfigFrom(args).robustness).toBeUndefined();
  });
});

const gpu = await testGpu();

describe.skipIf(!gpu)(`robustness on a device ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  it('the test device runs without it; a device made with it says so', async () => {
    expect(gpu!.caps.robustness).toBe(process.env.TKNP_ROBUSTNESS === '1');
    const robust = await Gpu.create({ robustness: true });
    try {
      expect(robust.caps.robustness).toBe(true);
      expect(robust.describe()).toMatch(/robustness on$/);
    } finally {
      robust.destroy();
    }
  });
});
