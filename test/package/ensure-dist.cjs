#!/usr/bin/env node
/**
 * Builds dist/ (`npm run build`) when it is missing or older than what it is built from, so that `npm test` works on
 * a fresh clone (`npm ci` builds nothing: the package has no install script) and after any edit of the sources.
 * Run by `pretest` and by the package tests; several callers at once build once (a lock folder in .tmp/).
 */
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '../..');
/** What the build reads. */
const INPUTS = ['src', 'tsup.config.ts', 'tsconfig.json', 'tsconfig.build.json', 'package.json'];
/** What the build writes (declarations last). */
const OUTPUTS = ['index', 'node'].flatMap((e) => ['mjs', 'cjs', 'd.ts', 'd.mts'].map((x) => `dist/${e}.${x}`)).concat(
  ['mjs', 'cjs'].map((x) => `dist/parallel-worker.${x}`),
);
const LOCK = path.join(ROOT, '.tmp', 'build.lock');

function newestMtime(p) {
  const stat = fs.statSync(p);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of fs.readdirSync(p)) newest = Math.max(newest, newestMtime(path.join(p, entry)));
  return newest;
}

/** Why dist/ must be rebuilt, or null when it is up to date. */
function staleReason() {
  let oldestOutput = Infinity;
  for (const out of OUTPUTS) {
    const file = path.join(ROOT, out);
    if (!fs.existsSync(file)) return `${out} is missing`;
    oldestOutput = Math.min(oldestOutput, fs.statSync(file).mtimeMs);
  }
  for (const input of INPUTS) {
    const p = path.join(ROOT, input);
    if (fs.existsSync(p) && newestMtime(p) > oldestOutput) return `${input} changed since the last build`;
  }
  return null;
}

function sleep(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function ensureDist() {
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    const reason = staleReason();
    if (reason == null) return false;
    fs.mkdirSync(path.dirname(LOCK), { recursive: true });
    try {
      fs.mkdirSync(LOCK);
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      // Another process builds: wait for it (a lock older than 10 minutes was left by a killed build).
      if (Date.now() - fs.statSync(LOCK).mtimeMs > 10 * 60_000) fs.rmSync(LOCK, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`ensure-dist: ${LOCK} held for 10 minutes; remove it if no build runs`);
      sleep(500);
      continue;
    }
    try {
      process.stderr.write(`ensure-dist: ${reason}: npm run build\n`);
      execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
      return true;
    } finally {
      fs.rmSync(LOCK, { recursive: true, force: true });
    }
  }
}

module.exports = { ensureDist, staleReason };

if (require.main === module) ensureDist();
