// Debian's Chromium, headless, in a fresh temporary profile, for the status manager's
// browser tests. Only addresses the caller's pages name are contacted.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Launches it with `extraArgs` after the usual ones; `close()` ends it and removes the
// profile.
export async function launch(extraArgs = [], options = {}) {
  const userDataDir = mkdtempSync(join(tmpdir(), 'rjk-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...extraArgs,
    ],
    ...options,
  });
  const close = async () => {
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  };
  return { context, close };
}
