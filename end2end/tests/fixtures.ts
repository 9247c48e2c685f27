// Shared test set-up. Every test gets a `page` that records console errors, uncaught page
// errors and 5xx responses, and fails at the end if there were any. HTTP 4xx answers are
// part of the API (401 for a failed sign-in, 422 for a rejected form) and Chromium reports
// each as "Failed to load resource"; those lines alone are not counted.
import { test as base, expect, type Page } from "@playwright/test";

export const PASSWORD = "violet quasar harbour tulip 83";

export function uniqueUser(prefix = "user") {
  const id = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  return { email: `${prefix}.${id}@example.com`, username: `${prefix}_${id}`.slice(0, 32) };
}

type Fixtures = { problems: string[] };

/** Records `page`'s console errors, page errors and 5xx responses into `problems`. */
export function trackProblems(page: Page, problems: string[]): void {
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const text = message.text();
    if (/^Failed to load resource: the server responded with a status of 4\d\d/.test(text)) return;
    problems.push(`console error: ${text}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("response", (response) => {
    if (response.status() >= 500) problems.push(`HTTP ${response.status()} from ${response.url()}`);
  });
}

export const test = base.extend<Fixtures>({
  problems: async ({ page }, use) => {
    const problems: string[] = [];
    trackProblems(page, problems);
    await use(problems);
    expect(problems, "no console errors, page errors or server errors").toEqual([]);
  },
});

export { expect };

/** Opens `path` and, when JavaScript is on, waits until the WASM has hydrated the page. */
export async function open(page: Page, path: string, javaScript = true): Promise<void> {
  await page.goto(path);
  if (javaScript) {
    await expect(page.locator("body[data-hydrated]")).toBeAttached();
  }
}

export async function signUp(page: Page, user: { email: string; username: string }, javaScript = true) {
  await open(page, "/signup", javaScript);
  await page.getByLabel("Email").fill(user.email);
  await page.getByLabel("Username").fill(user.username);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page).toHaveURL(/\/login\?signed_up=1$/);
  await expect(page.getByTestId("signup-notice")).toBeVisible();
}

export async function signIn(page: Page, email: string, password: string) {
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}
