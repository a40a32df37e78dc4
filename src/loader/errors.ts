// Named errors for loading a model directory. Each message is one line naming the file and
// the problem (and the field or tensor where there is one), so a user sees at once what is
// wrong with which file. `file` and `field` carry the same for callers and tests.

export class ModelLoadError extends Error {
  override readonly name: string = 'ModelLoadError';
  constructor(
    readonly file: string,
    readonly problem: string,
    /** The JSON field, tensor or index entry at fault, where there is one. */
    readonly field?: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

/**
 * A file of the model directory cannot be used at all: missing, not a regular file (a FIFO, a
 * device, a directory), larger than tknp reads, not valid JSON, or named outside the directory.
 */
export class ModelFileError extends ModelLoadError {
  override readonly name: string = 'ModelFileError';
}

/** A config.json or generation_config.json field is missing, of the wrong type or out of range. */
export class ModelConfigError extends ModelLoadError {
  override readonly name: string = 'ModelConfigError';
}

/** config.json names an architecture tknp does not implement. */
export class UnsupportedArchitectureError extends ModelConfigError {
  override readonly name = 'UnsupportedArchitectureError';
}

/**
 * The weights do not describe the model: a corrupt safetensors header, overlapping tensors, a
 * tensor in two shards, missing or unexpected tensors, a bad shape, dtype or value.
 */
export class CheckpointError extends ModelLoadError {
  override readonly name = 'CheckpointError';
}

/** tokenizer.json / tokenizer_config.json cannot serve the model (e.g. ids beyond vocab_size). */
export class TokenizerError extends ModelLoadError {
  override readonly name = 'TokenizerError';
}

/** The chat template failed, ran past its time limit, or rendered more text than allowed. */
export class ChatTemplateError extends ModelLoadError {
  override readonly name = 'ChatTemplateError';
}
