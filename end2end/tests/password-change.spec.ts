// Changing the password, with JavaScript on and off: this browser stays signed in, the
// user's second browser is signed out, and a notice is mailed.
import { test, expect, open, createAccount, fillNewPassword, signedInPage, uniqueUser, waitForMailTitled, PASSWORD } from "./fixtures";

for (const javaScript of [true, false]) {
  const mode = javaScript ? "with JavaScript" : "without JavaScript";

  test(`a password change signs out the other browser ${mode}`, async ({ browser, problems }) => {
    const user = uniqueUser(javaScript ? "changejs" : "changenojs");
    createAccount(user);
    const { context, page } = await signedInPage(browser, user, javaScript, problems);
    const other = await signedInPage(browser, user, javaScript, problems);

    await open(page, "/account/password", javaScript);
    await page.getByLabel("Current password").fill("not the password at all");
    await fillNewPassword(page, page.getByLabel("New password"), "copper lantern meadow violin 51", javaScript);
    await page.getByRole("button", { name: "Change password" }).click();
    await expect(page.getByText("This is not your current password.")).toBeVisible();

    await page.getByLabel("Current password").fill(PASSWORD);
    await fillNewPassword(page, page.getByLabel("New password"), "copper lantern meadow violin 51", javaScript);
    await page.getByRole("button", { name: "Change password" }).click();
    await expect(page.getByTestId("password-changed")).toBeVisible();
    const mail = await waitForMailTitled(user.email, "Your password was changed");

    await open(page, "/", javaScript);
    await expect(page.getByTestId("header-username")).toHaveText(user.username);
    await open(other.page, "/", javaScript);
    await expect(other.page.getByTestId("header-username")).toHaveCount(0);
    await context.close();
    await other.context.close();
    expect(problems).toEqual([]);
  });
}
