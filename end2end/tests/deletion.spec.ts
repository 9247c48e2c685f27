// Deleting an account, with JavaScript on and off: the password again first, the plain
// words of what happens, the account closed at once (every browser signed out, a sign-in
// answered as for no account), and the mailed link that keeps it. An admin deletes an
// ordinary account with a reason; its owner is mailed the same link.
import {
  test,
  expect,
  open,
  createAccount,
  signedInPage,
  stepUp,
  tokenLink,
  uniqueUser,
  waitForMailTitled,
  PASSWORD,
} from "./fixtures";
import type { Page } from "@playwright/test";

const CLOSING = "Your account will be deleted";

async function signInFails(page: Page, email: string, javaScript: boolean) {
  await open(page, "/login", javaScript);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  // The same words as a wrong password or an unknown address.
  await expect(page.getByTestId("form-error")).toContainText("Incorrect email or password.");
}

for (const javaScript of [true, false]) {
  const mode = javaScript ? "with JavaScript" : "without JavaScript";

  test.describe(mode, () => {
    test.use({ javaScriptEnabled: javaScript });

    test(`deleting my account closes it at once and the mailed link keeps it ${mode}`, async ({
      browser,
      problems,
    }) => {
      const user = uniqueUser(javaScript ? "deletejs" : "deletenojs");
      createAccount(user);
      const { context, page } = await signedInPage(browser, user, javaScript, problems);
      const other = await signedInPage(browser, user, javaScript, problems);

      await page.getByTestId("delete-account-link").click();
      await expect(page).toHaveURL(/\/account\/delete$/);
      await expect(page.getByTestId("deletion-terms")).toContainText("it closes at once");
      await expect(page.getByTestId("deletion-terms")).toContainText("7 days");
      await stepUp(page, javaScript);
      await expect(page).toHaveURL(/\/account\/delete$/);
      await expect(page.getByTestId("deletion-step-up")).toHaveCount(0);
      await page.getByRole("button", { name: "Delete my account" }).click();
      await expect(page).toHaveURL(/\/(\?notice=account-closed)?$/);
      await expect(page.getByTestId("account-closed")).toBeVisible();
      await expect(page.getByTestId("header-username")).toHaveCount(0);

      // The other browser is signed out too; signing in is refused with the usual words.
      await open(other.page, "/", javaScript);
      await expect(other.page.getByTestId("header-username")).toHaveCount(0);
      await signInFails(other.page, user.email, javaScript);

      // The mailed link's page keeps the account; it does not sign in.
      const mail = await waitForMailTitled(user.email, CLOSING);
      expect(mail.text).toContain("You asked for your Bulwark account to be deleted");
      const link = tokenLink(mail, "/account/delete/undo");
      const stranger = await browser.newContext({ javaScriptEnabled: javaScript });
      const undo = await stranger.newPage();
      await open(undo, link, javaScript);
      await expect(undo.getByTestId("deletion-due")).toContainText("will be erased on");
      await undo.getByRole("button", { name: "Keep my account" }).click();
      await expect(undo.getByTestId("account-kept")).toBeVisible();
      await expect(undo.getByTestId("header-username")).toHaveCount(0);
      await stranger.close();
      // Used once (a browser of its own: this one's notice would show for a minute).
      const later = await browser.newContext({ javaScriptEnabled: javaScript });
      const again = await later.newPage();
      await open(again, link, javaScript);
      await expect(again.getByTestId("link-invalid")).toBeVisible();
      await later.close();

      await open(other.page, "/login", javaScript);
      await other.page.getByLabel("Email").fill(user.email);
      await other.page.getByLabel("Password").fill(PASSWORD);
      await other.page.getByRole("button", { name: "Sign in", exact: true }).click();
      await expect(other.page).toHaveURL(/\/$/);
      await expect(other.page.getByTestId("header-username")).toBeVisible();
      await other.context.close();
      await context.close();
    });

    test(`an admin deletes an ordinary account with a reason ${mode}`, async ({ browser, problems }) => {
      const admin = uniqueUser(javaScript ? "deladminjs" : "deladminnojs");
      const user = uniqueUser(javaScript ? "deltargetjs" : "deltargetnojs");
      createAccount(admin, "admin");
      createAccount(user);
      const { context, page } = await signedInPage(browser, admin, javaScript, problems);
      const victim = await signedInPage(browser, user, javaScript, problems);

      await page.getByTestId("admin-link").click();
      await page.getByLabel("Email or username starts with").fill(user.email);
      await page.getByRole("button", { name: "Search" }).click();
      await page.getByRole("link", { name: user.email }).click();
      await expect(page.getByTestId("user-email")).toHaveText(user.email);
      if (javaScript) await expect(page.locator("body[data-hydrated]")).toBeAttached();
      await page.getByTestId("delete-reason").fill("asked by phone");
      await page.getByTestId("admin-delete").click();
      await expect(page.getByTestId("form-error")).toContainText("confirm it is you");
      await stepUp(page, javaScript);
      await expect(page.getByTestId("user-email")).toHaveText(user.email);
      await page.getByTestId("delete-reason").fill("asked by phone");
      await page.getByTestId("admin-delete").click();
      await expect(page.getByTestId("admin-done")).toBeVisible();
      await expect(page.getByTestId("user-status")).toHaveText("deletion pending");
      await expect(page.getByTestId("admin-delete")).toHaveCount(0);

      await open(victim.page, "/", javaScript);
      await expect(victim.page.getByTestId("header-username")).toHaveCount(0);
      const mail = await waitForMailTitled(user.email, CLOSING);
      expect(mail.text).toContain("An administrator asked");
      expect(mail.text).not.toContain("asked by phone");
      await victim.context.close();
      await context.close();
    });
  });
}
