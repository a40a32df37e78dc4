// The attention shapes tknp's kernels serve (prefill and decode attention, every variant), as plain
// constants: the loader refuses a config outside them before any GPU starts (loader/model_config).

/** Head dims both attention kernels take (each a define of shaders/lib/prefill_params). */
export const ATTENTION_HEAD_DIMS: readonly number[] = [64, 80, 96, 128, 256];

/**
 * Largest GQA ratio (q heads per kv head): a prefill workgroup packs ⌊64 / G⌋ tokens × the G q heads
 * of one kv head into its 64 rows (rows past ⌊64 / G⌋·G are padding), so a kv head's q heads are never
 * split over tiles. Decode attention takes any ratio.
 */
export const MAX_GQA_RATIO = 64;
