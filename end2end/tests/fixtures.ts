// Shared test set-up. Every test gets a `page` that records console errors, uncaught page
// errors and 5xx responses, and fails at the end if there were any. HTTP 4xx answers are
// part of the API (401 for a failed sign-in, 422 for a rejected form) and Chromium reports
// each as "Failed to load resource"; those lines alone are not counted.
import { execFileSync } from "node:child_process";
import { createHmac } from "node:crypto";
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
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}

// ---- Two-factor sign-in, without a phone ------------------------------------------------
//
// Accounts made with `--totp-secret` have an authenticator app whose secret the test knows:
// `totpCode` computes its codes (RFC 6238: HMAC-SHA1, six digits, 30-second steps) with
// Node's crypto. The server accepts each 30-second step once per account, so a second
// answer within the same step falls back to one of the account's recovery codes (printed
// by `create-admin`/`create-user`), never to waiting.

/** The authenticator secret (base32) these tests give every account that has one. */
export const TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

function base32Decode(text: string): Buffer {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const char of text.replace(/[\s=-]/g, "").toUpperCase()) {
    const index = alphabet.indexOf(char);
    if (index < 0) throw new Error(`not base32: ${char}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** The six-digit code of `secret` (base32) for the 30-second step `step`. */
export function totpAtStep(secret: string, step: number): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", base32Decode(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 15;
  const number = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return number.toString().padStart(6, "0");
}

/** The step `at` (milliseconds) falls in. */
export function totpStep(at = Date.now()): number {
  return Math.floor(at / 1000 / 30);
}

/** What this test process knows of each account's second factor. */
const factors = new Map<string, { secret: string; recoveryCodes: string[]; lastStep: number }>();
/** Which account each signed-in page belongs to (for `stepUp`). */
const pageUsers = new WeakMap<Page, string>();

/** Remembers that `email` has an authenticator app with `secret` and these recovery codes. */
export function rememberFactor(email: string, secret: string, recoveryCodes: string[]): void {
  factors.set(email, { secret, recoveryCodes: [...recoveryCodes], lastStep: -1 });
}

/** An answer for `email`'s second step now: a code of a step not used yet, else a recovery code. */
export function nextAnswer(email: string): { code?: string; recoveryCode?: string } {
  const factor = factors.get(email);
  if (!factor) throw new Error(`${email} has no second factor this test knows of`);
  const step = totpStep();
  if (step > factor.lastStep) {
    factor.lastStep = step;
    return { code: totpAtStep(factor.secret, step) };
  }
  const recoveryCode = factor.recoveryCodes.shift();
  if (!recoveryCode) throw new Error(`${email} has no recovery code left`);
  return { recoveryCode };
}

/** Whether this test knows `email` to have a second factor. */
export function hasFactor(email: string): boolean {
  return factors.has(email);
}

/**
 * A confirmed account made without any mail, the way a test suite is meant to make one:
 * `server create-user` / `server create-admin` (the password on standard input), on the
 * database the server under test uses. scripts/test.sh sets BULWARK_SERVER_BIN. Admins
 * (and users with `factor`) get an authenticator app with [`TOTP_SECRET`]
 * (`--totp-secret`); the printed recovery codes are remembered.
 */
export function createAccount(user: User, role: "user" | "admin" = "user", factor = role === "admin"): void {
  const bin = process.env.BULWARK_SERVER_BIN;
  if (!bin) throw new Error("BULWARK_SERVER_BIN is not set (scripts/test.sh sets it)");
  const command = role === "admin" ? "create-admin" : "create-user";
  const args = [command, "--email", user.email, "--username", user.username];
  if (factor) args.push("--totp-secret", TOTP_SECRET);
  const output = execFileSync(bin, args, {
    input: `${PASSWORD}\n`,
    stdio: ["pipe", "pipe", "pipe"],
  }).toString();
  if (factor) {
    const codes = output.split("\n").filter((line) => /^[0-9A-Z]{4}(-[0-9A-Z]{4}){5}$/.test(line.trim()));
    if (codes.length !== 10) throw new Error(`expected ten recovery codes, got: ${output}`);
    rememberFactor(user.email, TOTP_SECRET, codes);
  }
}

/** On the second-step page: answers with a code (or a recovery code) for `email`. */
export async function passSecondStep(page: Page, email: string): Promise<void> {
  await expect(page).toHaveURL(/\/login\/second-step/);
  const answer = nextAnswer(email);
  if (answer.code) {
    await page.getByLabel("Code", { exact: true }).fill(answer.code);
    await page.getByRole("button", { name: "Verify" }).click();
  } else {
    await page.getByText("Lost your device? Use a recovery code").click();
    await page.getByLabel("Recovery code").fill(answer.recoveryCode!);
    await page.getByRole("button", { name: "Use recovery code" }).click();
  }
}

/** Signs in on a fresh page of its own browser context (through the second step, if any). */
export async function signedInPage(browser: Browser, user: User, javaScript: boolean, problems: string[]) {
  const context = await browser.newContext({ javaScriptEnabled: javaScript });
  const page = await context.newPage();
  trackProblems(page, problems);
  await open(page, "/login", javaScript);
  await signIn(page, user.email, PASSWORD);
  if (hasFactor(user.email)) {
    if (javaScript) await expect(page).toHaveURL(/\/login\/second-step/);
    if (javaScript) await expect(page.locator("body[data-hydrated]")).toBeAttached();
    await passSecondStep(page, user.email);
  }
  await expect(page).toHaveURL(/\/$/);
  pageUsers.set(page, user.email);
  return { context, page };
}

/**
 * On a page that asked to confirm it is you: follows the link, types the password (or,
 * for an account with a second factor, a code or a recovery code), and returns.
 */
export async function stepUp(page: Page, javaScript = true): Promise<void> {
  await page.getByTestId("step-up-link").click();
  await expect(page).toHaveURL(/\/step-up\?next=/);
  if (javaScript) await expect(page.locator("body[data-hydrated]")).toBeAttached();
  const email = pageUsers.get(page);
  if (email && hasFactor(email)) {
    const answer = nextAnswer(email);
    if (answer.code) {
      await page.getByLabel("Code", { exact: true }).fill(answer.code);
      await page.getByRole("button", { name: "Confirm", exact: true }).click();
    } else {
      await page.getByText("Use a recovery code instead").click();
      await page.getByLabel("Recovery code").fill(answer.recoveryCode!);
      await page.getByRole("button", { name: "Use recovery code" }).click();
    }
  } else {
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByRole("button", { name: "Confirm", exact: true }).click();
  }
  await expect(page).not.toHaveURL(/\/step-up/);
  if (javaScript) await expect(page.locator("body[data-hydrated]")).toBeAttached();
}
