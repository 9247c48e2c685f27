// Impersonation, with JavaScript on and off: an admin starts one from a user's dashboard
// page (the password again first, and a reason), sees the banner on every page, is refused
// a password change and the admin area, stops, and is back on that user's dashboard page
// as themselves. The user gets the mail and sees the entry in their activity. With
// JavaScript on, the user also ends an impersonation from their sessions page.
import { test, expect, open, createAccount, fillNewPassword, signedInPage, stepUp, uniqueUser, waitForMailTitled, PASSWORD } from "./fixtures";
import type { Page } from "@playwright/test";

const REASON = "Ticket 4521: the checkout button does nothing";

/** From the dashboard's search to the user's page, then the impersonation form (with a step-up). */
async function impersonate(page: Page, email: string, javaScript: boolean) {
  await page.getByTestId("admin-link").click();
  await expect(page).toHaveURL(/\/admin$/);
  await page.getByLabel("Email or username starts with").fill(email);
  await page.getByRole("button", { name: "Search" }).click();
  await page.getByRole("link", { name: email }).click();
  await expect(page.getByTestId("user-email")).toHaveText(email);
  if (javaScript) await expect(page.locator("body[data-hydrated]")).toBeAttached();
  await page.getByTestId("impersonation-reason-input").fill(REASON);
  await page.getByTestId("start-impersonation").click();
  await expect(page.getByTestId("form-error")).toContainText("confirm it is you");
  await stepUp(page, javaScript);
  await expect(page.getByTestId("user-email")).toHaveText(email);
  await page.getByTestId("impersonation-reason-input").fill(REASON);
  await page.getByTestId("start-impersonation").click();
  await expect(page).toHaveURL(/\/$/);
}

for (const javaScript of [true, false]) {
  const mode = javaScript ? "with JavaScript" : "without JavaScript";

  test(`an admin impersonates a user, is refused a password change, and stops ${mode}`, async ({ browser, problems }) => {
    const admin = uniqueUser(javaScript ? "impadminjs" : "impadminnojs");
    const user = uniqueUser(javaScript ? "imptargetjs" : "imptargetnojs");
    createAccount(admin, "admin");
    createAccount(user);
    const owner = await signedInPage(browser, user, javaScript, problems);
    const { context, page } = await signedInPage(browser, admin, javaScript, problems);

    await impersonate(page, user.email, javaScript);
    await expect(page.getByTestId("header-username")).toHaveText(user.username);
    const banner = page.getByTestId("impersonation-banner");
    await expect(banner).toContainText(`You are viewing ${user.username}'s account`);
    await expect(page.getByTestId("impersonation-reason")).toHaveText(REASON);
    await expect(page.getByTestId("impersonation-time-left")).toContainText(/^(29|30) minutes left/);

    // The banner is on every page.
    for (const path of ["/account/sessions", "/account/activity", "/account/password"]) {
      await open(page, path, javaScript);
      await expect(page.getByTestId("impersonation-banner")).toBeVisible();
    }

    // A password change is refused, and says why.
    await page.getByLabel("Current password").fill(PASSWORD);
    await fillNewPassword(page, page.getByLabel("New password"), "copper lantern meadow violin 51", javaScript);
    await page.getByRole("button", { name: "Change password" }).click();
    await expect(page.getByTestId("form-error")).toContainText("Not available while you are viewing someone else's account");

    // So is the admin area.
    await open(page, "/admin", javaScript);
    await expect(page.getByTestId("admin-closed")).toContainText("closed while you are viewing");

    // Stop: back on the user's dashboard page, as the admin, with no new sign-in.
    await page.getByTestId("stop-impersonating").click();
    await expect(page).toHaveURL(/\/admin\/users\/\d+$/);
    await expect(page.getByTestId("user-email")).toHaveText(user.email);
    await expect(page.getByTestId("header-username")).toHaveText(admin.username);
    await expect(page.getByTestId("impersonation-banner")).toHaveCount(0);

    // The user was told, and sees it in their activity.
    const mail = await waitForMailTitled(user.email, "An administrator is viewing your account");
    expect(mail.text).toContain(admin.username);
    expect(mail.text).toContain(REASON);
    await open(owner.page, "/account/activity", javaScript);
    await expect(owner.page.getByTestId("activity")).toContainText("An administrator started viewing your account as you");
    await expect(owner.page.getByTestId("activity")).toContainText(REASON);
    await expect(owner.page.getByTestId("activity")).toContainText("stopped by the administrator");

    // The admins' list shows it, ended (other tests' impersonations are listed too).
    await open(page, "/admin/impersonations", javaScript);
    const row = page.getByTestId("impersonation-row").filter({ hasText: user.username });
    await expect(row).toHaveCount(1);
    await expect(row).toContainText(admin.username);
    await expect(row).toContainText("stopped by the administrator");

    await context.close();
    await owner.context.close();
    expect(problems).toEqual([]);
  });

  test(`the user ends an impersonation from their sessions page ${mode}`, async ({ browser, problems }) => {
    const admin = uniqueUser(javaScript ? "endadminjs" : "endadminnojs");
    const user = uniqueUser(javaScript ? "endtargetjs" : "endtargetnojs");
    createAccount(admin, "admin");
    createAccount(user);
    const owner = await signedInPage(browser, user, javaScript, problems);
    const { context, page } = await signedInPage(browser, admin, javaScript, problems);
    await impersonate(page, user.email, javaScript);

    await open(owner.page, "/account/sessions", javaScript);
    const support = owner.page.getByTestId("support-session");
    await expect(support).toContainText(`Support access by ${admin.username}`);
    await expect(support).toContainText(REASON);
    await owner.page.getByTestId("end-support").click();
    await expect(owner.page.getByTestId("support-session")).toHaveCount(0);

    // The admin's next page is their own again.
    await open(page, "/", javaScript);
    await expect(page.getByTestId("header-username")).toHaveText(admin.username);
    await expect(page.getByTestId("impersonation-banner")).toHaveCount(0);

    await context.close();
    await owner.context.close();
    expect(problems).toEqual([]);
  });
}
