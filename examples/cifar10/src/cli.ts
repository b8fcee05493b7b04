/**
 * `vit-cifar10`: trains a Vision Transformer on CIFAR-10 (the Keras "ViT on CIFAR-10" tutorial) with vit-tfjs.
 *
 *   npx tsx src/cli.ts --help
 */
import { existsSync, promises as fs } from 'fs';
import * as path from 'path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { VIT_PRESET_NAMES, type ViTClassifierOptions, type ViTPresetName } from 'vit-tfjs';
import type { BackendRequest } from 'vit-tfjs/node';
import { OUT, StopSignal, TrainConfig, UsageError, runTraining } from './train';

const DEFAULT_DATA = path.resolve(__dirname, '../data/cifar-10-sample');

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n <= 0) {
      throw new InvalidArgumentError(`${name} must be a positive integer.`);
    }
    return n;
  };
}

function threadCount(value: string): number | 'auto' {
  return value.trim() === 'auto' ? 'auto' : positiveInt('--threads')(value);
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('must be an integer ≥ 0.');
  return n;
}

function number(check: (n: number) => boolean, what: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || !check(n)) throw new InvalidArgumentError(`must be ${what}.`);
    return n;
  };
}

function json(value: string): ViTClassifierOptions {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    throw new InvalidArgumentError(`not valid JSON (${(err as Error).message}).`);
  }
  if (parsed == null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new InvalidArgumentError('must be a JSON object.');
  return parsed as ViTClassifierOptions;
}

/** The command-line parser (exported for tests and `--help`). */
export function makeProgram(): Command {
  return new Command()
    .name('vit-cifar10')
    .description(
      'Train a Vision Transformer on CIFAR-10 with vit-tfjs (the Keras "Image classification with Vision Transformer" recipe):\n' +
        'adapt normalization, train with AdamW and a validation split, keep the best-validation-accuracy weights,\n' +
        'then report their top-1 and top-5 accuracy on the test set.',
    )
    .addOption(
      new Option(
        '--data <source>',
        "CIFAR-10 in the binary layout: a folder, a .tar.gz archive, or 'download' (the official archive, cached in ~/.cache/vit-tfjs)",
      ).default(DEFAULT_DATA, 'the bundled 2,500-image sample, data/cifar-10-sample'),
    )
    .addOption(new Option('--preset <name>', 'model preset').choices(VIT_PRESET_NAMES as string[]).default('keras-cifar10'))
    .option('--model-options <json>', 'JSON object of createViTClassifier options overriding the preset, e.g. \'{"transformerLayers":4}\'', json, {})
    .option('--epochs <n>', 'number of epochs', positiveInt('--epochs'), 10)
    .option('--batch-size <n>', 'images per training step', positiveInt('--batch-size'), 256)
    .option('--micro-batch <n>', 'largest number of images per forward/backward pass; larger batches accumulate gradients (default without tfjs-node: 32 for keras-cifar10, 64 for the compact presets; with tfjs-node: the batch size)', positiveInt('--micro-batch'))
    .option(
      '--threads <n>',
      "threads that share each batch, each with a copy of the model: a number, or 'auto' (every core with the wasm and cpu backends, 1 with tfjs-node, which uses every core itself)",
      threadCount,
      'auto',
    )
    .option('--lr <rate>', 'AdamW learning rate', number((n) => n > 0, 'a number > 0'), 1e-3)
    .option('--weight-decay <wd>', 'AdamW weight decay (TF-Addons semantics, as the reference)', number((n) => n >= 0, 'a number ≥ 0'), 1e-4)
    .option(
      '--validation-split <fraction>',
      'fraction of the training images held out for validation (the last ones, as Keras)',
      number((n) => n > 0 && n < 1, 'a number strictly between 0 and 1'),
      0.1,
    )
    .addOption(
      new Option('--backend <name>', "tfjs backend; 'auto' picks tfjs-node-gpu, tfjs-node, wasm, then cpu")
        .choices(['auto', 'tensorflow', 'wasm', 'cpu'])
        .default('auto'),
    )
    .option('--out <dir>', `output folder (${Object.values(OUT).join(', ')})`, 'runs/cifar10')
    .option('--resume', 'continue the run in --out from its last checkpoint (same settings; --epochs may grow)', false)
    .option('--overwrite', 'replace the run already in --out (its checkpoint and artifacts) instead of refusing to start', false)
    .option('--limit-train <n>', 'use only the first n training images (before the validation split), for quick runs', positiveInt('--limit-train'))
    .option('--limit-test <n>', 'use only the first n test images, for quick runs', positiveInt('--limit-test'))
    .option('--seed <n>', 'seed of every random choice (weights, dropout, augmentation, shuffling)', nonNegativeInt, 42)
    .option('--no-progress', 'no progress bar (it is shown only on a terminal anyway)')
    .showHelpAfterError(false)
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  quick run on the bundled sample (CPU, wasm):\n' +
        '    npx tsx src/cli.ts --preset vit-cifar-tiny --epochs 3 --batch-size 64 --out runs/sample\n' +
        '  the reference run (GPU, with @tensorflow/tfjs-node-gpu):\n' +
        '    npx tsx src/cli.ts --data download --preset keras-cifar10 --epochs 10 --backend tensorflow --out runs/full\n' +
        '  continue an interrupted run:\n' +
        '    npx tsx src/cli.ts <same options> --resume',
    );
}

interface ParsedOptions {
  data: string;
  preset: ViTPresetName;
  modelOptions: ViTClassifierOptions;
  epochs: number;
  batchSize: number;
  microBatch?: number;
  threads: number | 'auto';
  lr: number;
  weightDecay: number;
  validationSplit: number;
  backend: BackendRequest;
  out: string;
  resume: boolean;
  overwrite: boolean;
  limitTrain?: number;
  limitTest?: number;
  seed: number;
  progress: boolean;
}

async function main(argv: string[]): Promise<number> {
  const program = makeProgram();
  program.parse(argv);
  const o = program.opts<ParsedOptions>();
  const cfg: TrainConfig = {
    data: o.data === 'download' ? 'download' : path.resolve(o.data),
    preset: o.preset,
    modelOptions: o.modelOptions,
    epochs: o.epochs,
    batchSize: o.batchSize,
    microBatchSize: o.microBatch,
    threads: o.threads,
    learningRate: o.lr,
    weightDecay: o.weightDecay,
    validationSplit: o.validationSplit,
    backend: o.backend,
    out: o.out,
    resume: o.resume,
    overwrite: o.overwrite,
    limitTrain: o.limitTrain,
    limitTest: o.limitTest,
    seed: o.seed,
    progress: o.progress && process.stderr.isTTY === true,
  };
  const stop: StopSignal = { requested: false };
  process.on('SIGINT', () => {
    if (stop.requested) process.exit(130);
    stop.requested = true;
    console.error('\nInterrupted: stopping after this step (press Ctrl-C again to quit at once)');
  });
  // A run refused before it starts (bad data, backend, --resume) leaves no empty --out folder behind.
  const outExisted = existsSync(cfg.out);
  const result = await runTraining(cfg, { log: (l) => console.log(l), warn: (l) => console.error(l) }, stop).catch(async (err: unknown) => {
    if (err instanceof UsageError && !outExisted) await fs.rmdir(cfg.out).catch(() => undefined); // only if still empty
    throw err;
  });
  if (result.status === 'interrupted') {
    console.error(
      `Stopped after ${result.epochsDone} complete epoch(s); ${path.join(cfg.out, OUT.checkpoint)} holds them: continue with --resume`,
    );
    return 130;
  }
  return 0;
}

if (require.main === module) {
  main(process.argv).then(
    (code) => process.exit(code),
    (err: unknown) => {
      let message = (err instanceof Error ? err.message : String(err)).split('\n')[0];
      if (/memory access out of bounds|^Aborted\(|out of memory/i.test(message)) {
        // tfjs-backend-wasm's heap is limited: a big model with a big batch (keras-cifar10 at 64+) overflows it.
        message = `the backend ran out of memory (${message}); try a smaller --batch-size`;
      }
      console.error(`error: ${message}`);
      if (!(err instanceof UsageError) && process.env.VIT_CIFAR10_DEBUG) console.error(err);
      process.exit(1);
    },
  );
}
