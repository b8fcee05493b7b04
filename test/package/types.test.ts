/**
 * The tarball's type declarations as TypeScript users meet them: a consumer file type-checked with `tsc` under
 * `strict`, without `skipLibCheck` (our .d.ts files are checked too), in the four module resolution setups users
 * have: node16 ESM (`"type": "module"`), node16 CommonJS, bundler, node10. Correct code compiles with no error
 * anywhere; code with mistakes is rejected, each mistake with the expected error on its line.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { packedPackage, ROOT } from './packed';

/** Code a user writes: every line must compile. */
const CORRECT = `import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { AdamW, createViTClassifier, normalization, setGlobalSeed, trainStep, type TrainStepResult } from 'vit-tfjs';
import { fileIO } from 'vit-tfjs/node';

export async function main(): Promise<number> {
  setGlobalSeed(7);
  const norm = normalization({ axis: -1, name: 'input_norm' });
  const layerName: string = norm.name;
  const model: tfl.LayersModel = createViTClassifier({ preset: 'vit-cifar-tiny', numClasses: 10, seed: 1 });
  const optimizer: tf.Optimizer = new AdamW({ learningRate: 1e-3, weightDecay: 1e-4 });
  const x = tf.zeros([2, 32, 32, 3]);
  const y = tf.tensor1d([0, 1], 'int32');
  const step: TrainStepResult = trainStep(model, optimizer, x, y);
  step.outputs.dispose();
  await model.save(fileIO('./out/model-' + layerName));
  const loaded = await tfl.loadLayersModel(fileIO('./out/model-' + layerName));
  loaded.dispose();
  return step.loss;
}
`;

/** Mistakes, each with the error codes that may report it (\`// expect: TSxxxx ...\` on the line). */
const WRONG = `import { createViTClassifier, normalization } from 'vit-tfjs';
import { fileIO } from 'vit-tfjs/node';

createViTClassifier({ preset: 'vit-cifar-tiny', numClases: 10 }); // expect: TS2561 TS2353
normalization({ axis: -1, nmae: 'input_norm' }); // expect: TS2561 TS2353
createViTClassifier({ preset: 'vit-cifar-huge' }); // expect: TS2322
fileIO(42); // expect: TS2345
const n: number = normalization({ axis: -1 }).name; // expect: TS2322
export { n };
`;

interface Setup {
  name: string;
  packageType: 'module' | 'commonjs';
  compilerOptions: Record<string, unknown>;
}

const SETUPS: Setup[] = [
  { name: 'node16-esm', packageType: 'module', compilerOptions: { module: 'node16', moduleResolution: 'node16' } },
  { name: 'node16-cjs', packageType: 'commonjs', compilerOptions: { module: 'node16', moduleResolution: 'node16' } },
  { name: 'bundler', packageType: 'module', compilerOptions: { module: 'esnext', moduleResolution: 'bundler' } },
  { name: 'node10', packageType: 'commonjs', compilerOptions: { module: 'commonjs', moduleResolution: 'node10' } },
];

interface Diagnostic {
  file: string;
  line: number;
  code: string;
  text: string;
}

/** Runs tsc on a setup's project; resolves with its diagnostics. */
function typeCheck(dir: string): Promise<{ diagnostics: Diagnostic[]; output: string }> {
  const tsc = path.join(path.dirname(require.resolve('typescript/package.json', { paths: [ROOT] })), 'bin/tsc');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [tsc, '-p', path.join(dir, 'tsconfig.json'), '--pretty', 'false'], { cwd: dir });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('close', () => {
      const diagnostics: Diagnostic[] = [];
      for (const m of output.matchAll(/^(.+?)\((\d+),\d+\): error (TS\d+): (.*)$/gm)) {
        diagnostics.push({ file: path.relative(dir, path.resolve(dir, m[1])), line: Number(m[2]), code: m[3], text: m[4] });
      }
      // A failure tsc reports without a file position (a bad option, a missing type library) counts too.
      for (const m of output.matchAll(/^error (TS\d+): (.*)$/gm)) diagnostics.push({ file: '', line: 0, code: m[1], text: m[2] });
      resolve({ diagnostics, output });
    });
  });
}

/** The expected errors of WRONG: line → accepted codes. */
function expectedErrors(): Map<number, string[]> {
  const expected = new Map<number, string[]>();
  WRONG.split('\n').forEach((text, i) => {
    const m = /\/\/ expect: (.*)$/.exec(text);
    if (m) expected.set(i + 1, m[1].trim().split(/\s+/));
  });
  return expected;
}

/** Declaration files of the tfjs packages (wherever the consumer's links lead). */
const TFJS_FILE = /(^|\/)node_modules\/@tensorflow\/tfjs-(core|layers|backend-cpu|backend-wasm)\/dist\//;

const results = new Map<string, Promise<{ diagnostics: Diagnostic[]; output: string }>>();

beforeAll(() => {
  const { consumer } = packedPackage();
  for (const setup of SETUPS) {
    const dir = path.join(consumer, 'types', setup.name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `types-${setup.name}`, private: true, type: setup.packageType }));
    const tsconfig = {
      compilerOptions: {
        strict: true,
        skipLibCheck: false,
        noEmit: true,
        target: 'es2022',
        lib: ['es2022', 'dom'],
        ...setup.compilerOptions,
      },
      files: ['correct.ts', 'wrong.ts'],
    };
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
    fs.writeFileSync(path.join(dir, 'correct.ts'), CORRECT);
    fs.writeFileSync(path.join(dir, 'wrong.ts'), WRONG);
    // All four at once: tsc is single-threaded.
    results.set(setup.name, typeCheck(dir));
  }
}, 300_000);

describe.each(SETUPS.map((s) => [s.name, s] as const))('types with moduleResolution %s, strict, no skipLibCheck', (name) => {
  it('correct code compiles: no error in it nor in any declaration file', async () => {
    const { diagnostics, output } = await (results.get(name) as Promise<{ diagnostics: Diagnostic[]; output: string }>);
    // tfjs's own declarations do not pass strict checks (TS2411, TS2420 in tfjs-layers): not ours to fix.
    const unexpected = diagnostics.filter((d) => d.file !== 'wrong.ts' && !TFJS_FILE.test(d.file));
    if (unexpected.length > 0) console.log(`tsc (${name}):\n${output}`);
    expect(unexpected.map((d) => `${d.file}:${d.line} ${d.code} ${d.text}`)).toEqual([]);
  });

  it('wrong code is rejected: each mistake with its error, nothing else', async () => {
    const { diagnostics } = await (results.get(name) as Promise<{ diagnostics: Diagnostic[]; output: string }>);
    const inWrong = diagnostics.filter((d) => d.file === 'wrong.ts');
    const expected = expectedErrors();
    for (const [line, codes] of expected) {
      const found = inWrong.filter((d) => d.line === line);
      expect({ line, codes: found.map((d) => d.code).filter((c) => codes.includes(c)).length > 0 ? 'ok' : found }).toEqual({
        line,
        codes: 'ok',
      });
    }
    expect(inWrong.filter((d) => !expected.has(d.line)).map((d) => `${d.line} ${d.code} ${d.text}`)).toEqual([]);
  });
});
