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
import { RECIPES, type Recipe, type RecipeName } from './recipe';
import { OUT, StopSignal, TrainConfig, UsageError, runTraining } from './train';

/** How the help names a recipe's value of an option. */
function fromRecipe(key: keyof Recipe): string {
  return `default from --recipe: ${Object.entries(RECIPES).map(([name, r]) => `${r[key]} (${name})`).join(', ')}`;
}

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
    .addOption(new Option('--recipe <name>', 'training recipe: the settings below marked "from --recipe" (see the README)').choices(Object.keys(RECIPES)).default('keras'))
    .addOption(new Option('--preset <name>', `model preset (${fromRecipe('preset')})`).choices(VIT_PRESET_NAMES as string[]))
    .option('--model-options <json>', 'JSON object of createViTClassifier options overriding the preset, e.g. \'{"transformerLayers":4}\'', json, {})
    .addOption(new Option('--epochs <n>', `number of epochs (${fromRecipe('epochs')})`).argParser(positiveInt('--epochs')))
    .addOption(new Option('--batch-size <n>', `images per training step (${fromRecipe('batchSize')})`).argParser(positiveInt('--batch-size')))
    .option('--micro-batch <n>', 'largest number of images per forward/backward pass; larger batches accumulate gradients (default without tfjs-node: 32 for keras-cifar10, 64 for the compact presets; with tfjs-node: the batch size)', positiveInt('--micro-batch'))
    .option(
      '--threads <n>',
      "threads that share each batch, each with a copy of the model: a number, or 'auto' (every core with the wasm and cpu backends, 1 with tfjs-node, which uses every core itself)",
      threadCount,
      'auto',
    )
    .addOption(new Option('--lr <rate>', `AdamW (peak) learning rate (${fromRecipe('learningRate')})`).argParser(number((n) => n > 0, 'a number > 0')))
    .addOption(new Option('--schedule <name>', `learning-rate schedule: constant, or linear warmup then cosine decay to 0 (${fromRecipe('schedule')})`).choices(['constant', 'warmup-cosine']))
    .addOption(new Option('--warmup-epochs <n>', `warmup of --schedule warmup-cosine, in epochs (fractions allowed) (${fromRecipe('warmupEpochs')})`).argParser(number((n) => n >= 0, 'a number ≥ 0')))
    .addOption(new Option('--weight-decay <wd>', `AdamW weight decay (${fromRecipe('weightDecay')})`).argParser(number((n) => n >= 0, 'a number ≥ 0')))
    .addOption(new Option('--weight-decay-mode <mode>', `'tfa': w -= wd·w (TF-Addons, as the reference); 'lr-scaled': w -= lr·wd·w (PyTorch, Keras 3) (${fromRecipe('weightDecayMode')})`).choices(['tfa', 'lr-scaled']))
    .addOption(new Option('--decay-exclusions <set>', `variables weight decay spares: none, or common (biases, LayerNorm γ/β, position embeddings, class token) (${fromRecipe('decayExclusions')})`).choices(['none', 'common']))
    .addOption(new Option('--label-smoothing <eps>', `label smoothing of the cross-entropy, in [0, 1) (${fromRecipe('labelSmoothing')})`).argParser(number((n) => n >= 0 && n < 1, 'a number in [0, 1)')))
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
        '  70% test accuracy in under an hour on a 2-core CPU (the whole data set):\n' +
        '    npx tsx src/cli.ts --data cifar-10-binary.tar.gz --recipe cpu-hour --out runs/cpu-hour\n' +
        '  the reference run (GPU, with @tensorflow/tfjs-node-gpu):\n' +
        '    npx tsx src/cli.ts --data download --preset keras-cifar10 --epochs 10 --backend tensorflow --out runs/full\n' +
        '  continue an interrupted run:\n' +
        '    npx tsx src/cli.ts <same options> --resume',
    );
}

interface ParsedOptions {
  data: string;
  recipe: RecipeName;
  preset?: ViTPresetName;
  modelOptions: ViTClassifierOptions;
  epochs?: number;
  batchSize?: number;
  microBatch?: number;
  threads: number | 'auto';
  lr?: number;
  schedule?: Recipe['schedule'];
  warmupEpochs?: number;
  weightDecay?: number;
  weightDecayMode?: Recipe['weightDecayMode'];
  decayExclusions?: Recipe['decayExclusions'];
  labelSmoothing?: number;
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
  const r = RECIPES[o.recipe];
  const cfg: TrainConfig = {
    data: o.data === 'download' ? 'download' : path.resolve(o.data),
    preset: o.preset ?? r.preset,
    modelOptions: o.modelOptions,
    epochs: o.epochs ?? r.epochs,
    batchSize: o.batchSize ?? r.batchSize,
    microBatchSize: o.microBatch,
    threads: o.threads,
    learningRate: o.lr ?? r.learningRate,
    schedule: o.schedule ?? r.schedule,
    warmupEpochs: o.warmupEpochs ?? r.warmupEpochs,
    weightDecay: o.weightDecay ?? r.weightDecay,
    weightDecayMode: o.weightDecayMode ?? r.weightDecayMode,
    decayExclusions: o.decayExclusions ?? r.decayExclusions,
    labelSmoothing: o.labelSmoothing ?? r.labelSmoothing,
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
