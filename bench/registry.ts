// Every kernel benchmark suite `tknp bench kernels` knows, in report order.
import type { BenchSuite } from '../src/bench/types.js';
import { addSuite } from './kernels/add.js';

export const suites: readonly BenchSuite[] = [addSuite];
