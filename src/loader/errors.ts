// Named errors for loading a model directory. Each message is one line naming the file and
// the problem, so a user sees at once what is wrong with which file.

export class ModelLoadError extends Error {
  override readonly name: string = 'ModelLoadError';
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

/** config.json names an architecture tknp does not implement. */
export class UnsupportedArchitectureError extends ModelLoadError {
  override readonly name = 'UnsupportedArchitectureError';
}

/** A config.json field is missing or out of range. */
export class ModelConfigError extends ModelLoadError {
  override readonly name = 'ModelConfigError';
}
