// Choosing a password: the live strength meter (zxcvbn in a WASM chunk fetched on first
// use, never on the first load), the Show toggle, breached passwords, and the server's
// verdict without JavaScript.
import type { Page } from "@playwright/test";
import { test, expect, open, uniqueUser } from "./fixtures";

/** In the sample breached list the browser tests run with, 3,784 times. */
const BREACHED = "correct horse battery staple";

/** On the signup page: signs up with the breached password; the server refuses it under
 * its field with its count. */
async function signUpRefusedAsBreached(page: Page, user: { email: string; username: string }) {
  await page.getByLabel("Email").fill(user.email);
  await page.getByLabel("Username").fill(user.username);
  await page.getByLabel("Password").fill(BREACHED);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.locator("#signup-password-error")).toContainText(
    "This password has appeared in 3,784 data breaches",
  );
}

test.describe("with JavaScript", () => {
  test("the meter judges as the person types, and zxcvbn is not part of the first load", async ({
    page,
    problems,
  }) => {
    const wasm: string[] = [];
    page.on("request", (request) => {
      if (new URL(request.url()).pathname.endsWith(".wasm")) wasm.push(request.url());
    });
    await open(page, "/signup");
    expect(wasm, "only the main module on the first load").toHaveLength(1);
    await expect(page.getByTestId("strength-meter")).toHaveCount(0);

    const user = uniqueUser("meter");
    await page.getByLabel("Email").fill(user.email);
    await page.getByLabel("Username").fill("kittenlover");
    await page.getByLabel("Password").pressSequentially("kittenlover1234");
    const verdict = page.getByTestId("strength-verdict");
    await expect(verdict).toContainText("This password is too easy to guess.");
    await expect(page).toHaveURL(/\/signup$/);
    expect(wasm.length, "the zxcvbn chunk came on first use").toBeGreaterThan(1);
    const meter = page.locator("meter");
    await expect(meter).toHaveAttribute("aria-labelledby", /.+/);
    expect(Number(await meter.getAttribute("value"))).toBeLessThan(3);

    await page.getByLabel("Password").fill("violet quasar harbour tulip 83");
    await expect(verdict).toContainText("good to go");
    expect(Number(await meter.getAttribute("value"))).toBeGreaterThanOrEqual(3);
    await expect(meter).toHaveAttribute("aria-valuetext", /of 4/);
    expect(problems).toEqual([]);
  });

  test("a chunk that cannot be loaded says so in plain words and breaks nothing", async ({ page }) => {
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await open(page, "/signup");
    await page.route(/\.wasm$/, (route) => route.abort());
    await page.getByLabel("Password").fill("violet quasar harbour tulip 83");
    await expect(page.getByTestId("strength-verdict")).toContainText("could not be loaded");
    // The page still works: the field rules still run, the form still submits.
    await page.getByLabel("Email").fill("nope");
    await expect(page.locator("#signup-email-error")).not.toBeEmpty();
    // wasm_split's loader leaves the zxcvbn chunk's own fetch unhandled when a chunk it
    // shares with a lazy page fails first; Chromium reports that as an uncaught "Failed to
    // fetch". What must not happen is a Rust panic.
    expect(errors.filter((message) => message !== "Failed to fetch"), "no panic").toEqual([]);
  });

  test("Show reveals the password and hides it again, and the field is a password field", async ({
    page,
    problems,
  }) => {
    await open(page, "/signup");
    const field = page.getByLabel("Password");
    await field.fill("violet quasar harbour tulip 83");
    const toggle = page.getByRole("button", { name: "Show password" });
    await expect(field).toHaveAttribute("type", "password");
    await expect(toggle).toHaveAttribute("aria-pressed", "false");
    await toggle.click();
    await expect(field).toHaveAttribute("type", "text");
    await expect(toggle).toHaveAttribute("aria-pressed", "true");
    await expect(toggle).toHaveAttribute("aria-controls", "signup-password");
    await toggle.click();
    await expect(field).toHaveAttribute("type", "password");
    await expect(field).toHaveValue("violet quasar harbour tulip 83");
    expect(problems).toEqual([]);
  });

  test("a breached password is refused under its field", async ({ page, problems }) => {
    const user = uniqueUser("breached");
    await open(page, "/signup");
    await signUpRefusedAsBreached(page, user);
    expect(problems).toEqual([]);
  });
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("no toggle and no meter; the server's verdicts appear after submit", async ({ page, problems }) => {
    const user = uniqueUser("nojsmeter");
    await open(page, "/signup", false);
    await expect(page.getByRole("button", { name: "Show password" })).toHaveCount(0);
    await expect(page.getByLabel("Password")).toHaveAttribute("type", "password");
    await page.getByLabel("Email").fill(user.email);
    await page.getByLabel("Username").fill("kittenlover");
    await page.getByLabel("Password").fill("kittenlover1234");
    await page.getByRole("button", { name: "Create account" }).click();
    await expect(page.locator("#signup-password-error")).toContainText("This password is too easy to guess.");
    await expect(page.getByTestId("strength-meter")).toHaveCount(0);

    await signUpRefusedAsBreached(page, user);
    expect(problems).toEqual([]);
  });
});
