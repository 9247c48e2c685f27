// Shared test set-up. Every test gets a `page` that records console errors, uncaught page
// errors and 5xx responses, and fails at the end if there were any. HTTP 4xx answers are
// part of the API (401 for a failed sign-in, 422 for a rejected form) and Chromium reports
// each as "Failed to load resource"; those lines alone are not counted.
import { execFileSync } from "node:child_process";
import { test as base, expect, type Browser, type Locator, type Page } from "@playwright/test";
import { mailApiPort, type ReceivedMail } from "../mail-sink";

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

type User = { email: string; username: string };

/**
 * Types a new password into `field`. With JavaScript, also waits for the strength meter's
 * verdict: it appears under the field once zxcvbn's chunk is in, and moves the buttons
 * below it, so a click sent at that moment could land where the button was.
 */
export async function fillNewPassword(page: Page, field: Locator, value: string, javaScript = true) {
  await field.fill(value);
  if (javaScript) await expect(page.getByTestId("strength-verdict")).not.toBeEmpty();
}

/** Fills in and sends the signup form; ends on the "check your email" page. */
export async function submitSignUp(page: Page, user: User, javaScript = true, password = PASSWORD) {
  await open(page, "/signup", javaScript);
  await page.getByLabel("Email").fill(user.email);
  await page.getByLabel("Username").fill(user.username);
  await fillNewPassword(page, page.getByLabel("Password"), password, javaScript);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page).toHaveURL(/\/check-email$/);
  await expect(page.getByTestId("check-email")).toBeVisible();
}

/** Everything the SMTP sink has received for `to`, oldest first. */
export async function mailsTo(to: string): Promise<ReceivedMail[]> {
  const response = await fetch(`http://127.0.0.1:${mailApiPort}/messages?to=${encodeURIComponent(to)}`);
  return (await response.json()) as ReceivedMail[];
}

/** Waits until `to` has received `count` mails and returns the newest. */
export async function waitForMail(to: string, count = 1): Promise<ReceivedMail> {
  let mails: ReceivedMail[] = [];
  await expect
    .poll(async () => (mails = await mailsTo(to)).length, { message: `mail #${count} to ${to}`, timeout: 15_000 })
    .toBeGreaterThanOrEqual(count);
  return mails[count - 1];
}

/** Waits until `to` has received a mail titled `subject` and returns the newest such
 * mail (other mail, such as new-device notices, may arrive around it). */
export async function waitForMailTitled(to: string, subject: string): Promise<ReceivedMail> {
  let found: ReceivedMail | undefined;
  await expect
    .poll(async () => (found = (await mailsTo(to)).filter((m) => m.subject === subject).pop()) !== undefined, {
      message: `a mail titled "${subject}" to ${to}`,
      timeout: 15_000,
    })
    .toBe(true);
  return found as ReceivedMail;
}

/** The link to `path` (with its token) in a mail's text. */
export function tokenLink(mail: ReceivedMail, path: string): string {
  const link = mail.text.match(new RegExp(`https?://\\S+${path}\\?token=[0-9a-f]{64}`))?.[0];
  expect(link, `a ${path} link in: ${mail.text}`).toBeDefined();
  return link as string;
}

/** The verification link in a mail's text. */
export function verificationLink(mail: ReceivedMail): string {
  return tokenLink(mail, "/verify-email");
}

/** The password reset link in a mail's text. */
export function resetLink(mail: ReceivedMail): string {
  return tokenLink(mail, "/reset-password");
}

/** Opens a verification link, types the signup's password and presses the confirm
 * button; ends on the sign-in page. */
export async function confirmEmail(page: Page, link: string, javaScript = true, password = PASSWORD) {
  await open(page, link, javaScript);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Confirm my email address" }).click();
  await expect(page).toHaveURL(/\/login(\?notice=[a-z-]+)?$/);
  await expect(page.getByTestId("verified-notice")).toBeVisible();
}

/** A confirmed account: signup, the mail over SMTP, its link. Ends on the sign-in page. */
export async function signUp(page: Page, user: User, javaScript = true) {
  const before = (await mailsTo(user.email)).length;
  await submitSignUp(page, user, javaScript);
  const mail = await waitForMail(user.email, before + 1);
  await confirmEmail(page, verificationLink(mail), javaScript);
}

export async function signIn(page: Page, email: string, password: string) {
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/**
 * A confirmed account made without any mail, the way a test suite is meant to make one:
 * `server create-user` / `server create-admin` (the password on standard input), on the
 * database the server under test uses. scripts/test.sh sets BULWARK_SERVER_BIN.
 */
export function createAccount(user: User, role: "user" | "admin" = "user"): void {
  const bin = process.env.BULWARK_SERVER_BIN;
  if (!bin) throw new Error("BULWARK_SERVER_BIN is not set (scripts/test.sh sets it)");
  const command = role === "admin" ? "create-admin" : "create-user";
  execFileSync(bin, [command, "--email", user.email, "--username", user.username], {
    input: `${PASSWORD}\n`,
    stdio: ["pipe", "pipe", "pipe"],
  });
}

/** Signs in on a fresh page of its own browser context. */
export async function signedInPage(browser: Browser, user: User, javaScript: boolean, problems: string[]) {
  const context = await browser.newContext({ javaScriptEnabled: javaScript });
  const page = await context.newPage();
  trackProblems(page, problems);
  await open(page, "/login", javaScript);
  await signIn(page, user.email, PASSWORD);
  await expect(page).toHaveURL(/\/$/);
  return { context, page };
}

/** On a page that asked for the password again: follows the link, types it, and returns. */
export async function stepUp(page: Page, javaScript = true): Promise<void> {
  await page.getByTestId("step-up-link").click();
  await expect(page).toHaveURL(/\/step-up\?next=/);
  if (javaScript) await expect(page.locator("body[data-hydrated]")).toBeAttached();
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Confirm" }).click();
  await expect(page).not.toHaveURL(/\/step-up/);
  if (javaScript) await expect(page.locator("body[data-hydrated]")).toBeAttached();
}
