import { defineConfig, devices } from "@playwright/test";

// The server is started by `cargo leptos end-to-end` (see scripts/test.sh) on this port,
// with a fresh SQLite file. Chromium is Debian's: Playwright's own download is not
// reachable from these machines. BULWARK_CHROMIUM overrides the path elsewhere.
const port = process.env.BULWARK_E2E_PORT ?? "3005";
export const baseURL = process.env.BULWARK_E2E_BASE_URL ?? `http://localhost:${port}`;

export default defineConfig({
  testDir: "./tests",
  globalSetup: "./global-setup.ts",
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: true,
  forbidOnly: !!process.env.CI,
  retries: 0,
  workers: 2,
  reporter: process.env.CI ? [["list"]] : [["list"], ["html", { open: "never" }]],
  use: {
    baseURL,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
  },
  projects: [
    {
      name: "chromium",
      use: {
        ...devices["Desktop Chrome"],
        launchOptions: {
          executablePath: process.env.BULWARK_CHROMIUM ?? "/usr/bin/chromium",
          args: [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
          ],
        },
      },
    },
  ],
});
