/**
 * Test helper: the real browser the browser tests drive (Debian's `chromium`, through playwright-core), started the
 * same way everywhere, and the content types their local servers send. Never a silent skip: without Chromium the
 * test fails and says how to install it (`.ci/run` does).
 */
import * as fs from 'fs';
import { chromium, type Browser } from 'playwright-core';

/** The Chromium binary: `CHROMIUM_PATH`, else Debian's. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Headless, as root (no sandbox), without a GPU, and without the background connections that this machine's closed
 * network refuses.
 */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--headless',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Content types of the files the tests serve. */
export const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
};

/** Starts headless Chromium; throws (naming the fix) when it is not installed. */
export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: this test needs a real browser. Install Debian's chromium ` +
        '(`apt-get install chromium`; .ci/run installs it when missing) or set CHROMIUM_PATH.',
    );
  }
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}
