import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';

/**
 * Headless Chromium from the operating system's `chromium` package (Debian: /usr/bin/chromium; `.ci/run`
 * installs it), driven with puppeteer-core, which downloads nothing. A fresh profile per launch, and no
 * background traffic: the tests reach only the local stack.
 */
export const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
] as const;

export type LaunchedChromium = { browser: Browser; close(): Promise<void> };

export async function launchChromium(): Promise<LaunchedChromium> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: install Debian's chromium package (apt-get install -y chromium)`);
  }
  const profile = mkdtempSync(path.join(os.tmpdir(), 'console-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`],
    defaultViewport: { width: 1360, height: 900 },
  });
  return {
    browser,
    close: async () => {
      await browser.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
