/**
 * Builds the small CIFAR-10 sample bundled with the example, reproducibly, in the official binary layout
 * (`cifar-10-batches-bin/`): from each of `data_batch_1.bin` … `data_batch_5.bin` the first 40 images of each class
 * (2,000 training images in all, 200 per class), from `test_batch.bin` the first 50 of each class (500 test
 * images), in file order, and `batches.meta.txt`.
 *
 *   npx tsx scripts/make-sample.ts [archive-or-folder] [output-folder]
 *
 * Defaults: ../../../shared/datasets/cifar-10-binary.tar.gz (the workspace's shared datasets) and
 * data/cifar-10-sample. The output is the same bytes on every run.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { gunzipSync } from 'zlib';
import { readTar } from 'vit-tfjs';

const RECORD_BYTES = 1 + 32 * 32 * 3;
const PER_CLASS: Record<string, number> = {
  'data_batch_1.bin': 40,
  'data_batch_2.bin': 40,
  'data_batch_3.bin': 40,
  'data_batch_4.bin': 40,
  'data_batch_5.bin': 40,
  'test_batch.bin': 50,
};

function select(records: Uint8Array, perClass: number): Uint8Array {
  const counts = new Array<number>(10).fill(0);
  const chosen: Uint8Array[] = [];
  for (let pos = 0; pos + RECORD_BYTES <= records.length; pos += RECORD_BYTES) {
    const label = records[pos];
    if (counts[label] < perClass) {
      counts[label]++;
      chosen.push(records.subarray(pos, pos + RECORD_BYTES));
    }
  }
  if (counts.some((c) => c < perClass)) throw new Error(`not enough images per class: ${counts.join(', ')}`);
  return Buffer.concat(chosen);
}

async function main(): Promise<void> {
  const here = path.resolve(__dirname, '..');
  const source = path.resolve(process.argv[2] ?? path.join(here, '../../../shared/datasets/cifar-10-binary.tar.gz'));
  const outDir = path.resolve(process.argv[3] ?? path.join(here, 'data/cifar-10-sample'), 'cifar-10-batches-bin');
  const wanted = [...Object.keys(PER_CLASS), 'batches.meta.txt'];
  const files = new Map<string, Uint8Array>();
  if ((await fs.stat(source)).isDirectory()) {
    const dir = (await fs.readdir(source)).includes('cifar-10-batches-bin') ? path.join(source, 'cifar-10-batches-bin') : source;
    for (const name of wanted) files.set(name, await fs.readFile(path.join(dir, name)));
  } else {
    for (const [name, bytes] of readTar(gunzipSync(await fs.readFile(source)), (h) => wanted.includes(path.posix.basename(h.name)))) {
      files.set(path.posix.basename(name), bytes);
    }
  }
  await fs.mkdir(outDir, { recursive: true });
  for (const [name, perClass] of Object.entries(PER_CLASS)) {
    const records = files.get(name);
    if (records == null) throw new Error(`${source}: no ${name}`);
    const sample = select(records, perClass);
    await fs.writeFile(path.join(outDir, name), sample);
    console.log(`${path.join(outDir, name)}: ${sample.length / RECORD_BYTES} images`);
  }
  const meta = files.get('batches.meta.txt');
  if (meta == null) throw new Error(`${source}: no batches.meta.txt`);
  await fs.writeFile(path.join(outDir, 'batches.meta.txt'), meta);
}

main().catch((err: unknown) => {
  console.error(`make-sample: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
