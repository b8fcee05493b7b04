import { SingleBar } from 'cli-progress';
import type { FitProgress } from 'vit-tfjs';

/**
 * Options of {@link progressBar}.
 *
 * @category Training
 */
export interface ProgressBarOptions {
  /** Where to draw; default `process.stderr`. */
  stream?: NodeJS.WriteStream;
  /** Draw it; default: when `stream` is a terminal (so piped or logged output stays clean). */
  enabled?: boolean;
}

function fmt(v: number | undefined): string {
  return v == null || !Number.isFinite(v) ? '-' : v.toFixed(4);
}

/**
 * A progress bar for `fitViT` (its `progress` option), drawn with `cli-progress`: per epoch, the steps done, the
 * running loss and metrics, images per second and the time left. Returns `undefined` (no display) when not
 * `enabled`, by default when the stream (stderr) is not a terminal.
 *
 * @example
 * ```ts
 * import { progressBar } from 'vit-tfjs/node';
 * await fitViT(model, data, { epochs: 5, progress: progressBar() });
 * ```
 *
 * @category Training
 */
export function progressBar(options: ProgressBarOptions = {}): FitProgress | undefined {
  const stream = options.stream ?? process.stderr;
  const enabled = options.enabled ?? stream.isTTY === true;
  if (!enabled) return undefined;
  let bar: SingleBar | null = null;
  let keys: string[] = [];
  const label = (k: string) => (k === 'accuracy' ? 'acc' : k.replace(/-accuracy$/, ''));
  return {
    onEpochBegin({ epoch, epochs, steps, metrics }) {
      keys = metrics;
      const fields = keys.map((k, i) => `${label(k)} {m${i}}`).join(' | ');
      bar = new SingleBar({
        format: `Epoch ${epoch + 1}/${epochs} [{bar}] {value}/{total} | ${fields} | {ips} img/s | ETA {eta_formatted}`,
        stream,
        hideCursor: true,
        etaBuffer: 20,
        noTTYOutput: !(stream.isTTY === true),
      });
      bar.start(steps ?? 0, 0, { ips: '-', ...Object.fromEntries(keys.map((_, i) => [`m${i}`, '-'])) });
    },
    onStep({ step, imagesPerSecond, logs }) {
      bar?.update(step, { ips: imagesPerSecond.toFixed(1), ...Object.fromEntries(keys.map((k, i) => [`m${i}`, fmt(logs[k])])) });
    },
    onEpochEnd() {
      bar?.stop();
      bar = null;
    },
  };
}
