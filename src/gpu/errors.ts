// Named errors for everything that can go wrong between tknp and the GPU. WebGPU reports
// validation and out-of-memory problems asynchronously through error scopes; tknp turns each
// into one of these and throws it, so no GPU error is ever silently ignored.

/** No adapter matched the requested backend/name, or a required feature is missing. */
export class GpuUnavailableError extends Error {
  override readonly name = 'GpuUnavailableError';
}

/** WebGPU validation failed: a bad binding, a shader that does not compile, a bad dispatch. */
export class GpuValidationError extends Error {
  override readonly name = 'GpuValidationError';
}

/** The device could not allocate memory for a buffer or pipeline. */
export class GpuOutOfMemoryError extends Error {
  override readonly name = 'GpuOutOfMemoryError';
}

/** The device was lost (driver reset, destroy, or a fatal internal error). */
export class GpuDeviceLostError extends Error {
  override readonly name = 'GpuDeviceLostError';
}

/** A kernel wrapper was given tensors whose shapes or dtypes do not fit together. */
export class ShapeError extends Error {
  override readonly name = 'ShapeError';
}

/** Converts a GPUError popped from an error scope into the matching named error. */
export function toNamedError(err: GPUError, context: string): Error {
  const msg = `${context}: ${err.message}`;
  if (err.constructor?.name === 'GPUOutOfMemoryError' || /out of memory/i.test(err.message)) {
    return new GpuOutOfMemoryError(msg);
  }
  return new GpuValidationError(msg);
}
