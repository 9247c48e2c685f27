// Forgotten password: ask for a link, receive it over SMTP, choose a new password (a weak
// one is refused at its field first), and every other device is signed out. JS on and off.
import {
  test,
  expect,
  open,
  resetLink,
  signIn,
  signUp,
  fillNewPassword,
  trackProblems,
  uniqueUser,
  waitForMailTitled,
  PASSWORD,
} from "./fixtures";

const NEW_PASSWORD = "a brand new passphrase for the test 58";

for (const javaScript of [true, false]) {
  const mode = javaScript ? "with JavaScript" : "without JavaScript";

  test.describe(mode, () => {
    // The page this test drives runs with JavaScript exactly when the test says so.
    test.use({ javaScriptEnabled: javaScript });

    test(`reset a forgotten password ${mode}`, async ({ page, problems, browser }) => {
      test.setTimeout(60_000);
      const user = uniqueUser(javaScript ? "reset" : "resetnojs");
      await signUp(page, user, javaScript);

      // Another device, signed in before the reset.
      const other = await browser.newContext({ javaScriptEnabled: javaScript });
      const otherPage = await other.newPage();
      trackProblems(otherPage, problems);
      await open(otherPage, "/login", javaScript);
      await signIn(otherPage, user.email, PASSWORD);
      await expect(otherPage.getByTestId("header-username")).toHaveText(user.username);

      await open(page, "/login", javaScript);
      await page.getByRole("link", { name: "Forgot your password?" }).click();
      await expect(page).toHaveURL(/\/forgot-password$/);
      await page.getByLabel("Email").fill(user.email);
      await page.getByRole("button", { name: "Send a reset link" }).click();
      await expect(page).toHaveURL(/\/check-email$/);

      const mail = await waitForMailTitled(user.email, "Reset your password");
      const link = resetLink(mail);
      const response = await page.goto(link);
      expect(response?.headers()["referrer-policy"]).toBe("no-referrer");
      await open(page, link, javaScript);
      // The page names the account the link is for (a link for someone else's says so).
      await expect(page.getByTestId("link-account")).toContainText(user.email);

      const field = page.getByLabel("New password", { exact: true });
      await fillNewPassword(page, field, "password1234567", javaScript);
      await page.getByRole("button", { name: "Set new password" }).click();
      await expect(page.locator("#reset-password-error")).toContainText("This password is too easy to guess.");
      await expect(page).toHaveURL(/\/reset-password\?token=/);

      await fillNewPassword(page, field, NEW_PASSWORD, javaScript);
      await page.getByRole("button", { name: "Set new password" }).click();
      await expect(page).toHaveURL(/\/login(\?notice=[a-z-]+)?$/);
      await expect(page.getByTestId("reset-notice")).toBeVisible();

      await signIn(page, user.email, NEW_PASSWORD);
      await expect(page.getByTestId("header-username")).toHaveText(user.username);
      await waitForMailTitled(user.email, "Your password was changed");

      // The other device was signed out by the reset.
      await open(otherPage, "/", javaScript);
      await expect(otherPage.getByRole("banner").getByRole("link", { name: "Sign in" })).toBeVisible();
      await other.close();
      expect(problems).toEqual([]);
    });
  });
}
