// Two-factor sign-in in a real browser, with JavaScript on and off, computing the codes in
// the test (no phone): setting up an authenticator app from the security page (the QR code
// and the key drawn by the server, a code to confirm, the recovery codes shown once), then
// signing in with a recovery code; signing in with a code (a wrong one first); stepping up
// with a code; a reset link that asks for the code; and an admin without a factor, who
// reaches only the set-up.
import {
  test,
  expect,
  open,
  createAccount,
  signedInPage,
  signIn,
  stepUp,
  uniqueUser,
  waitForMailTitled,
  resetLink,
  totpAtStep,
  totpStep,
  rememberFactor,
  passSecondStep,
  fillNewPassword,
  PASSWORD,
  TOTP_SECRET,
} from "./fixtures";

for (const javaScript of [true, false]) {
  const mode = javaScript ? "with JavaScript" : "without JavaScript";

  test(`a user sets up an authenticator app and signs in with a recovery code ${mode}`, async ({ browser, problems }) => {
    const user = uniqueUser(javaScript ? "enroljs" : "enrolnojs");
    createAccount(user);
    const { page } = await signedInPage(browser, user, javaScript, problems);
    await open(page, "/account/security", javaScript);
    await expect(page.getByTestId("factor-status")).toContainText("Off.");
    await page.getByTestId("set-up-app").click();
    await expect(page).toHaveURL(/\/account\/security\/app$/);
    // Setting it up needs a fresh proof first (the password: there is no factor yet).
    await stepUp(page, javaScript);
    await expect(page).toHaveURL(/\/account\/security\/app$/);
    await expect(page.getByTestId("totp-qr").locator("svg")).toBeVisible();
    const key = (await page.getByTestId("totp-key").innerText()).replace(/\s/g, "");
    expect(key).toMatch(/^[A-Z2-7]{32}$/);
    const step = totpStep();
    await page.getByLabel("The six-digit code the app shows now").fill(totpAtStep(key, step));
    await expect(page.getByTestId("keep-others")).not.toBeChecked();
    await page.getByRole("button", { name: "Turn on two-factor sign-in" }).click();

    await expect(page).toHaveURL(/\/account\/security\/recovery-codes$/);
    await expect(page.getByTestId("recovery-codes").locator("li")).toHaveCount(10);
    const codes = (await page.getByTestId("recovery-codes").locator("li").allInnerTexts()).map((c) => c.trim());
    expect(codes).toHaveLength(10);
    await expect(page.getByTestId("download-codes")).toHaveAttribute("download", "bulwark-recovery-codes.txt");
    await page.getByTestId("codes-saved").click();
    await expect(page).toHaveURL(/\/account\/security(\?notice=[a-z-]+)?$/);
    await expect(page.getByTestId("codes-saved-notice")).toBeVisible();
    await expect(page.getByTestId("factor-status")).toContainText("On.");
    await expect(page.getByTestId("codes-left")).toHaveText("10 of 10");
    await waitForMailTitled(user.email, "Two-factor sign-in is on");
    // Shown once: the page has nothing to show any more.
    await open(page, "/account/security/recovery-codes", javaScript);
    await expect(page.getByTestId("no-codes-waiting")).toBeVisible();

    // Sign out; the password alone no longer signs in: a recovery code does.
    await page.getByRole("button", { name: "Sign out" }).click();
    await open(page, "/login", javaScript);
    await signIn(page, user.email, PASSWORD);
    await expect(page).toHaveURL(/\/login\/second-step$/);
    if (javaScript) await expect(page.locator("body[data-hydrated]")).toBeAttached();
    await page.getByText("Lost your device? Use a recovery code").click();
    await page.getByLabel("Recovery code").fill(codes[0].toLowerCase());
    await page.getByRole("button", { name: "Use recovery code" }).click();
    await expect(page).toHaveURL(/\/$/);
    await expect(page.getByTestId("header-username")).toHaveText(user.username);
    const mail = await waitForMailTitled(user.email, "A recovery code was used");
    expect(mail.text).toContain("9 unused codes are left");
  });

  test(`signing in takes a code after the password, and a step-up takes one too ${mode}`, async ({ browser, problems }) => {
    const user = uniqueUser(javaScript ? "codejs" : "codenojs");
    createAccount(user, "user", true);
    const context = await browser.newContext({ javaScriptEnabled: javaScript });
    const page = await context.newPage();
    await open(page, "/login", javaScript);
    await signIn(page, user.email, PASSWORD);
    await expect(page).toHaveURL(/\/login\/second-step$/);
    if (javaScript) await expect(page.locator("body[data-hydrated]")).toBeAttached();
    // No session yet: the account pages say to sign in.
    await expect(page.getByTestId("header-username")).toHaveCount(0);
    await page.getByLabel("Code", { exact: true }).fill("000000");
    await page.getByRole("button", { name: "Verify" }).click();
    await expect(page.locator("#second-step-code-error")).toContainText("That code is not right, or it was already used.");
    await passSecondStep(page, user.email);
    await expect(page).toHaveURL(/\/$/);
    await expect(page.getByTestId("header-username")).toHaveText(user.username);

    // Signing other sessions out needs a fresh proof: with the factor, not the password.
    await open(page, "/account/sessions", javaScript);
    await page.getByRole("button", { name: "Sign out all other sessions" }).click();
    await expect(page.getByTestId("form-error")).toContainText("confirm it is you");
    await page.getByTestId("step-up-link").click();
    await expect(page).toHaveURL(/\/step-up\?next=/);
    if (javaScript) await expect(page.locator("body[data-hydrated]")).toBeAttached();
    await expect(page.getByLabel("Password", { exact: true })).toHaveCount(0);
    await expect(page.getByLabel("Code", { exact: true })).toBeVisible();
    await context.close();
    void problems;
  });

  test(`a reset link asks for the code before the new password is set ${mode}`, async ({ browser, problems }) => {
    const user = uniqueUser(javaScript ? "resetfjs" : "resetfnojs");
    createAccount(user, "user", true);
    const context = await browser.newContext({ javaScriptEnabled: javaScript });
    const page = await context.newPage();
    await open(page, "/forgot-password", javaScript);
    await page.getByLabel("Email").fill(user.email);
    await page.getByRole("button", { name: "Send a reset link" }).click();
    const mail = await waitForMailTitled(user.email, "Reset your password");
    await open(page, resetLink(mail), javaScript);
    await expect(page.getByLabel("Code from your authenticator app")).toBeVisible();
    const newPassword = "crimson walrus lantern opera 41";
    await fillNewPassword(page, page.getByLabel("New password", { exact: true }), newPassword, javaScript);
    await page.getByRole("button", { name: "Set new password" }).click();
    await expect(page.getByText("Please enter the code.")).toBeVisible();
    await fillNewPassword(page, page.getByLabel("New password", { exact: true }), newPassword, javaScript);
    await page.getByLabel("Code from your authenticator app").fill(totpAtStep(TOTP_SECRET, totpStep()));
    await page.getByRole("button", { name: "Set new password" }).click();
    await expect(page).toHaveURL(/\/login(\?notice=[a-z-]+)?$/);
    await expect(page.getByTestId("reset-notice")).toBeVisible();
    await context.close();
    void problems;
  });
}

test("an admin without a second factor reaches only its set-up", async ({ browser, problems }) => {
  const admin = uniqueUser("nofactor");
  createAccount(admin, "admin", false);
  const context = await browser.newContext();
  const page = await context.newPage();
  await open(page, "/login");
  await signIn(page, admin.email, PASSWORD);
  await expect(page).toHaveURL(/\/account\/security$/);
  await expect(page.getByTestId("admin-needs-factor")).toBeVisible();
  await open(page, "/admin");
  await expect(page).toHaveURL(/\/account\/security$/);
  // Set it up: the password once, then a code; then the dashboard opens.
  await page.getByTestId("set-up-app").click();
  await stepUp(page);
  const key = (await page.getByTestId("totp-key").innerText()).replace(/\s/g, "");
  const step = totpStep();
  await page.getByLabel("The six-digit code the app shows now").fill(totpAtStep(key, step));
  await page.getByRole("button", { name: "Turn on two-factor sign-in" }).click();
  await expect(page).toHaveURL(/\/account\/security\/recovery-codes$/);
  await expect(page.getByTestId("recovery-codes").locator("li")).toHaveCount(10);
  const codes = (await page.getByTestId("recovery-codes").locator("li").allInnerTexts()).map((c) => c.trim());
  rememberFactor(admin.email, key, codes);
  await page.getByTestId("codes-saved").click();
  await expect(page.getByTestId("factor-status")).toContainText("On.");
  await expect(page.getByTestId("remove-app")).toHaveCount(0);
  await open(page, "/admin");
  await expect(page).toHaveURL(/\/admin$/);
  await context.close();
  void problems;
});
