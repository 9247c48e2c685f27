// The admin dashboard, with JavaScript on and off: an admin (made with `server
// create-admin`) finds a user, disables them while the user's browser is open (that
// browser is signed out), enables them again, forces a password reset (the mail arrives,
// the sessions are gone), and reads the audit log. Every change asks for the password
// again first (step-up).
import {
  test,
  expect,
  open,
  createAccount,
  signedInPage,
  stepUp,
  uniqueUser,
  waitForMailTitled,
} from "./fixtures";

for (const javaScript of [true, false]) {
  const mode = javaScript ? "with JavaScript" : "without JavaScript";

  test(`an admin disables, enables and resets a user ${mode}`, async ({ browser, problems }) => {
    const admin = uniqueUser(javaScript ? "adminjs" : "adminnojs");
    const user = uniqueUser(javaScript ? "targetjs" : "targetnojs");
    createAccount(admin, "admin");
    createAccount(user);
    const { context: adminContext, page } = await signedInPage(browser, admin, javaScript, problems);
    const victim = await signedInPage(browser, user, javaScript, problems);

    // Find the user.
    await page.getByTestId("admin-link").click();
    await expect(page).toHaveURL(/\/admin$/);
    await page.getByLabel("Email or username starts with").fill(user.email);
    await page.getByRole("button", { name: "Search" }).click();
    await expect(page.getByTestId("user-count")).toHaveText("1 matching");
    await page.getByRole("link", { name: user.email }).click();
    await expect(page.getByTestId("user-email")).toHaveText(user.email);
    if (javaScript) await expect(page.locator("body[data-hydrated]")).toBeAttached();

    // Disable: the password first, then the action.
    await page.getByTestId("disable-reason").fill("suspected account takeover");
    await page.getByRole("button", { name: "Disable" }).click();
    await expect(page.getByTestId("form-error")).toContainText("confirm it is you");
    await stepUp(page, javaScript);
    await expect(page.getByTestId("user-email")).toHaveText(user.email);
    await page.getByTestId("disable-reason").fill("suspected account takeover");
    await page.getByRole("button", { name: "Disable" }).click();
    await expect(page.getByTestId("admin-done")).toBeVisible();
    await expect(page.getByTestId("user-status")).toHaveText("disabled");

    // The user's open browser is signed out at its next request.
    await open(victim.page, "/", javaScript);
    await expect(victim.page.getByTestId("header-username")).toHaveCount(0);
    await open(victim.page, "/login", javaScript);
    await victim.page.getByLabel("Email").fill(user.email);
    await victim.page.getByLabel("Password").fill("violet quasar harbour tulip 83");
    await victim.page.getByRole("button", { name: "Sign in", exact: true }).click();
    await expect(victim.page.getByTestId("form-error")).toContainText("This account has been disabled");

    // Enable again; the user can sign in.
    await page.getByRole("button", { name: "Enable" }).click();
    await expect(page.getByTestId("user-status")).toHaveText("active");
    await open(victim.page, "/login", javaScript);
    await victim.page.getByLabel("Email").fill(user.email);
    await victim.page.getByLabel("Password").fill("violet quasar harbour tulip 83");
    await victim.page.getByRole("button", { name: "Sign in", exact: true }).click();
    await expect(victim.page).toHaveURL(/\/$/);

    // Force a password reset: the mail arrives and the user's session is gone.
    await page.getByRole("button", { name: "Force a password reset" }).click();
    await expect(page.getByTestId("no-sessions")).toBeVisible();
    const mail = await waitForMailTitled(user.email, "Choose a new password for your account");
    await open(victim.page, "/", javaScript);
    await expect(victim.page.getByTestId("header-username")).toHaveCount(0);

    // The audit log shows what happened, by whom.
    await page.getByRole("link", { name: "Audit log" }).click();
    await expect(page).toHaveURL(/\/admin\/audit$/);
    await page.getByLabel("Event").selectOption("user_disabled");
    await page.getByRole("button", { name: "Filter" }).click();
    await expect(page.getByTestId("audit-table").getByRole("row")).not.toHaveCount(1);
    await expect(page.getByTestId("audit-table")).toContainText("user_disabled");
    await adminContext.close();
    await victim.context.close();
    expect(problems).toEqual([]);
  });
}

test("the admin area is an ordinary missing page for users", async ({ browser, problems }) => {
  const user = uniqueUser("curious");
  createAccount(user);
  const { context, page } = await signedInPage(browser, user, true, problems);
  const response = await page.goto("/admin");
  expect(response?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
  await expect(page.getByTestId("admin-link")).toHaveCount(0);
  await context.close();
});
