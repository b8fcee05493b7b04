/**
 * Fuzzing the model loader of `vit-tfjs/node` (issue #16) with fast-check: a valid `model.json` + `weights.bin`
 * folder whose manifest is edited at the JSON level (a value replaced by any JSON value, a key deleted), whose
 * text is mutated byte-wise, and whose weights file is truncated or extended. `fileIO(dir).load()` must end in
 * artifacts or an Error naming `model.json` or the weights, within the per-input budget of harness.ts.
 * Budget: 300 inputs under `npm test` (each writes two small files: about 3 s).
 */
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { fileIO } from '../../src/node';
import { checker, mutate, mutations, params, reportTried, runs, timeoutFor } from './harness';

afterAll(() => reportTried('model_io'));

const MODEL = {
  modelTopology: {
    class_name: 'Sequential',
    config: {
      name: 'fuzz',
      layers: [{ class_name: 'Dense', config: { units: 2, batch_input_shape: [null, 3], name: 'd', use_bias: true } }],
    },
    keras_version: 'tfjs-layers 4.22.0',
    backend: 'tensor_flow.js',
  },
  format: 'layers-model',
  generatedBy: 'TensorFlow.js tfjs-layers v4.22.0',
  convertedBy: null,
  weightsManifest: [
    {
      paths: ['weights.bin'],
      weights: [
        { name: 'd/kernel', shape: [3, 2], dtype: 'float32' },
        { name: 'd/bias', shape: [2], dtype: 'float32' },
      ],
    },
  ],
};
const WEIGHTS = new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6, 0.5, -0.5]).buffer);

/** `fileIO(dir).load()`, whose `load` the IOHandler type marks optional. */
function load(dir: string): ReturnType<NonNullable<ReturnType<typeof fileIO>['load']>> {
  const h = fileIO(dir);
  if (h.load == null) throw new Error('fileIO has no load()');
  return h.load();
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** All containers of `v` with their keys, in a fixed order (to pick one edit target by index). */
function slots(v: Json, out: [Json[] | { [k: string]: Json }, string | number][] = []): typeof out {
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      out.push([v, i]);
      slots(x, out);
    });
  } else if (v != null && typeof v === 'object') {
    for (const k of Object.keys(v)) {
      out.push([v, k]);
      slots(v[k], out);
    }
  }
  return out;
}

type Edit = { at: number; op: 'replace' | 'delete'; value: Json };
const edit: fc.Arbitrary<Edit> = fc.record({
  at: fc.nat(),
  op: fc.constantFrom('replace' as const, 'delete' as const),
  value: fc.oneof(
    fc.constantFrom<Json>(null, -1, 0, 1e308, -0.5, 2 ** 31, '', '..', '../weights.bin', '/etc/passwd', 'string', 'float32', [], {}),
    fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
  ),
});

function edited(edits: Edit[]): string {
  const m = JSON.parse(JSON.stringify(MODEL)) as Json;
  for (const e of edits) {
    const s = slots(m);
    if (s.length === 0) break;
    const [obj, key] = s[e.at % s.length];
    if (e.op === 'delete') {
      if (Array.isArray(obj)) obj.splice(key as number, 1);
      else delete obj[key as string];
    } else {
      (obj as Record<string | number, Json>)[key] = e.value;
    }
  }
  return JSON.stringify(m);
}

describe('fuzz: fileIO(dir).load()', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'vit-tfjs-fuzz-model-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the base folder loads', async () => {
    writeFileSync(path.join(dir, 'model.json'), JSON.stringify(MODEL));
    writeFileSync(path.join(dir, 'weights.bin'), WEIGHTS);
    const a = await load(dir);
    expect(a.weightSpecs?.map((s) => s.name)).toEqual(['d/kernel', 'd/bias']);
    expect(new Float32Array(a.weightData as ArrayBuffer)).toEqual(new Float32Array([1, 2, 3, 4, 5, 6, 0.5, -0.5]));
  });

  const N = runs(300);
  it(
    `edited manifests, mutated model.json text, truncated or extended weights: ${N} inputs`,
    async () => {
      const c = checker('fileIO load (mutated)', /^fileIO: .*(model\.json|weights)/);
      await fc.assert(
        fc.asyncProperty(
          fc.array(edit, { maxLength: 3 }),
          fc.option(mutations(3), { nil: undefined }),
          fc.option(fc.integer({ min: -40, max: 40 }), { nil: undefined }),
          async (edits, textMutations, weightDelta) => {
            let json: Uint8Array = new TextEncoder().encode(edited(edits));
            if (textMutations != null) json = mutate(json, textMutations);
            let w = WEIGHTS;
            if (weightDelta != null) {
              w = weightDelta < 0 ? WEIGHTS.slice(0, Math.max(0, WEIGHTS.length + weightDelta)) : new Uint8Array(WEIGHTS.length + weightDelta);
            }
            writeFileSync(path.join(dir, 'model.json'), json);
            writeFileSync(path.join(dir, 'weights.bin'), w);
            await c.checkAsync(() => load(dir));
          },
        ),
        params(N),
      );
    },
    timeoutFor(N),
  );
});
