/** What a benchmark section receives from the harness (`bench/run.ts`). */
export interface BenchRow {
  /** Section name, e.g. 'training', 'augmentation', 'data'. */
  section: string;
  /** What was measured, e.g. 'keras-cifar10 train batch 64'. */
  name: string;
  /** The measured value (a median where repeated). */
  value: number;
  /** Unit, e.g. 'images/s', 'ms', 'MB'. */
  unit: string;
  /** Backend the measurement ran on, when it depends on one. */
  backend?: string;
  /** Free-form details (batch size, repeats, ...). */
  details?: Record<string, unknown>;
}

/** Context handed to every `bench/sections/*.ts` default export. */
export interface BenchContext {
  /** True for a short smoke run (`npm run bench -- --quick`): few repeats, small sizes. */
  quick: boolean;
  /** Backends to measure on (those that loaded), in order. */
  backends: string[];
  /** Switches the active tfjs backend. */
  useBackend(name: string): Promise<void>;
  /** Records one result row. */
  report(row: BenchRow): void;
  /** Prints a progress line. */
  log(message: string): void;
}

/** A benchmark section module's default export. */
export type BenchSection = (ctx: BenchContext) => Promise<void>;
