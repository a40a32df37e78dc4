// The test helper's policy when no GPU adapter exists: skip GPU tests with a printed reason locally,
// fail under CI=true (CI has lavapipe; a run that found none would otherwise pass having tested nothing).
import { describe, expect, it } from 'vitest';
import { GpuUnavailableError } from '../../src/gpu/errors.js';
import { gpuUnavailable } from '../helpers/gpu.js';

describe('gpuUnavailable', () => {
  const e = new GpuUnavailableError('no adapter found');
  it('returns the reason to print when CI is not set (or not "true")', () => {
    expect(gpuUnavailable(e, {})).toBe('GpuUnavailableError: no adapter found');
    expect(gpuUnavailable(e, { CI: 'false' })).toBe('GpuUnavailableError: no adapter found');
  });
  it('throws under CI=true, naming the cause', () => {
    expect(() => gpuUnavailable(e, { CI: 'true' })).toThrow(/CI=true and no GPU adapter \(GpuUnavailableError: no adapter found\)/);
  });
});
