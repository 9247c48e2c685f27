// Changing the email address, with JavaScript on and off: the password again first, a
// link to the new address, nothing changed until it is used, and the old address's links
// (cancel before, recover after) each doing what their page says.
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
import type { Browser, Page } from "@playwright/test";

async function askFor(page: Page, address: string, javaScript: boolean) {
  await page.getByLabel("New email address").fill(address);
  await page.getByRole("button", { name: "Send a confirmation link" }).click();
}

/** Opens a mailed link in a browser of its own (not signed in), types the account's
 * password when the page asks for it, and presses its button. */
async function follow(
  browser: Browser,
  link: string,
  button: string,
  javaScript: boolean,
  problems: string[],
  password?: string,
) {
  const context = await browser.newContext({ javaScriptEnabled: javaScript });
  const page = await context.newPage();
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  await open(page, link, javaScript);
  if (password !== undefined) await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: button }).click();
  return { context, page };
}

for (const javaScript of [true, false]) {
  const mode = javaScript ? "with JavaScript" : "without JavaScript";

  test.describe(mode, () => {
    test.use({ javaScriptEnabled: javaScript });

    test(`an email change needs the password again, waits for the new address, and the old one can recover ${mode}`, async ({
      browser,
      problems,
    }) => {
      const user = uniqueUser(javaScript ? "emailjs" : "emailnojs");
      const next = uniqueUser(javaScript ? "newjs" : "newnojs").email;
      createAccount(user);
      const { context, page } = await signedInPage(browser, user, javaScript, problems);

      await open(page, "/account/email", javaScript);
      await expect(page.getByTestId("current-email")).toHaveText(user.email);
      await askFor(page, next, javaScript);
      await expect(page.getByTestId("form-error")).toContainText("confirm it is you");
      await stepUp(page, javaScript);
      await expect(page).toHaveURL(/\/account\/email$/);
      await askFor(page, next, javaScript);
      await expect(page.getByTestId("email-change-requested")).toBeVisible();
      await expect(page.getByTestId("pending-email")).toContainText(next);
      await expect(page.getByTestId("current-email")).toHaveText(user.email);

      const confirm = tokenLink(await waitForMailTitled(next, "Confirm your new email address"), "/email-change/confirm");
      const notice = await waitForMailTitled(user.email, "Your email address is about to change");
      expect(notice.text).toContain(next);
      // Someone who has the link but not the account's password changes nothing.
      const stranger = await follow(browser, confirm, "Use this address", javaScript, problems, "not the password at all");
      await expect(stranger.page.getByText("This is not your current password.")).toBeVisible();
      await stranger.context.close();
      const used = await follow(browser, confirm, "Use this address", javaScript, problems, PASSWORD);
      await expect(used.page.getByTestId("link-done")).toContainText("Your email address has been changed.");
      await used.context.close();

      await open(page, "/account/email", javaScript);
      await expect(page.getByTestId("current-email")).toHaveText(next);

      const recover = tokenLink(await waitForMailTitled(user.email, "Your email address was changed"), "/email-change/recover");
      const back = await follow(browser, recover, "Recover my account", javaScript, problems);
      await expect(back.page.getByTestId("link-done")).toContainText("Your account is back at this address.");
      await expect(back.page.getByTestId("link-account")).toContainText(user.email);
      await back.context.close();
      await waitForMailTitled(user.email, "Your account is back: choose a new password");

      await open(page, "/", javaScript);
      await expect(page.getByTestId("header-username")).toHaveCount(0);
      await context.close();
      expect(problems).toEqual([]);
    });

    test(`the owner withdraws a waiting change after typing the password again ${mode}`, async ({ browser, problems }) => {
      const user = uniqueUser(javaScript ? "wdrjs" : "wdrnojs");
      const next = uniqueUser(javaScript ? "wnewjs" : "wnewnojs").email;
      createAccount(user);
      const { context, page } = await signedInPage(browser, user, javaScript, problems);
      await open(page, "/account/email", javaScript);
      await askFor(page, next, javaScript);
      await stepUp(page, javaScript);
      await askFor(page, next, javaScript);
      await expect(page.getByTestId("pending-email")).toContainText(next);
      await page.getByTestId("withdraw-email-change").click();
      await expect(page.getByTestId("email-change-withdrawn")).toBeVisible();
      await expect(page.getByTestId("pending-email")).toHaveCount(0);
      await expect(page.getByTestId("current-email")).toHaveText(user.email);
      await context.close();
      expect(problems).toEqual([]);
    });

    test(`the old address's cancel link stops a change and its confirmation link dies ${mode}`, async ({ browser, problems }) => {
      const user = uniqueUser(javaScript ? "cancjs" : "cancnojs");
      const next = uniqueUser(javaScript ? "cnewjs" : "cnewnojs").email;
      createAccount(user);
      const { context, page } = await signedInPage(browser, user, javaScript, problems);
      await open(page, "/account/email", javaScript);
      await askFor(page, next, javaScript);
      await stepUp(page, javaScript);
      await askFor(page, next, javaScript);
      await expect(page.getByTestId("email-change-requested")).toBeVisible();

      const confirm = tokenLink(await waitForMailTitled(next, "Confirm your new email address"), "/email-change/confirm");
      const cancel = tokenLink(await waitForMailTitled(user.email, "Your email address is about to change"), "/email-change/cancel");
      const cancelled = await follow(browser, cancel, "Cancel the change", javaScript, problems);
      await expect(cancelled.page.getByTestId("link-done")).toContainText("The change is cancelled.");
      await expect(cancelled.page.getByTestId("link-account")).toContainText(user.email);
      await cancelled.context.close();

      const dead = await follow(browser, confirm, "Use this address", javaScript, problems, PASSWORD);
      await expect(dead.page.getByTestId("link-invalid")).toBeVisible();
      await dead.context.close();
      await open(page, "/account/email", javaScript);
      await expect(page.getByTestId("current-email")).toHaveText(user.email);
      await expect(page.getByTestId("pending-email")).toHaveCount(0);
      await context.close();
      expect(problems).toEqual([]);
    });
  });
}
