// Browser tests of the UI: Debian's Chromium (never a downloaded browser) against the
// `marathon local` whose URL is in MARATHON_URL. Run by crates/marathon/tests/ui.rs, which
// starts that cluster; screenshots go to UI_SCREENSHOTS (default ./screenshots).
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: 'tests',
  timeout: 180_000,
  expect: { timeout: 30_000 },
  workers: 1,
  reporter: [['list']],
  outputDir: 'test-results',
  use: {
    baseURL: process.env.MARATHON_URL || 'http://127.0.0.1:8080',
    browserName: 'chromium',
    headless: true,
    viewport: { width: 1360, height: 900 },
    launchOptions: { executablePath: process.env.CHROMIUM || '/usr/bin/chromium' },
    trace: 'off',
  },
});
