// A performance target judged on its worst measured value: met, missed (by how much, on which
// case, how many cases miss) or not measured. Used by the kernel targets and the linear M sweep.

export interface TargetResult {
  readonly name: string;
  readonly requirement: string;
  readonly status: 'met' | 'missed' | 'not measured';
  /** The worst case and its value, e.g. 'B64 … ctx4096: 0.20× PyTorch'. */
  readonly detail: string;
}

/** One measured value of a target: what it is of ('M16 K4096 N6144 [gemv]') and the value. */
export interface Measured {
  readonly label: string;
  readonly v: number;
}

/**
 * Met or missed on the worst measured value: `higher` targets need v ≥ bound, the others v ≤ bound.
 * Without a value the target is not measured (`none` says what to run).
 */
export function judge(name: string, requirement: string, measured: readonly Measured[], bound: number, unit: string, higher = true, none = 'no matching case with a value (run the full sweep with --baseline)'): TargetResult {
  if (measured.length === 0) return { name, requirement, status: 'not measured', detail: none };
  const worst = measured.reduce((a, b) => ((higher ? b.v < a.v : b.v > a.v) ? b : a));
  const met = higher ? worst.v >= bound : worst.v <= bound;
  const short = higher ? `short by ${(bound - worst.v).toFixed(2)} (${((100 * worst.v) / bound).toFixed(0)}% of the target)` : `over by ${(worst.v - bound).toFixed(2)}`;
  const misses = met ? '' : `; ${measured.filter((m) => (higher ? m.v < bound : m.v > bound)).length} of ${measured.length} miss`;
  return { name, requirement, status: met ? 'met' : 'missed', detail: `worst of ${measured.length}: ${worst.label} ${worst.v.toFixed(2)} ${unit}${met ? '' : ` — ${short}${misses}`}` };
}

