// The two-person rule, with JavaScript on and off: one admin locks another admin, which
// only waits (listed on the account's page, every admin mailed); a second admin approves it
// on /admin/approvals, and the account is locked.
import { test, expect, open, createAccount, signedInPage, stepUp, uniqueUser, waitForMailTitled } from "./fixtures";

for (const javaScript of [true, false]) {
  const mode = javaScript ? "with JavaScript" : "without JavaScript";

  test(`a lock on an admin waits for a second admin's approval ${mode}`, async ({ browser, problems }) => {
    const tag = javaScript ? "js" : "nojs";
    const [ann, bob, cat] = [uniqueUser(`ann${tag}`), uniqueUser(`bob${tag}`), uniqueUser(`cat${tag}`)];
    for (const admin of [ann, bob, cat]) createAccount(admin, "admin");
    const first = await signedInPage(browser, ann, javaScript, problems);
    const page = first.page;

    // Ann asks to lock Bob: the password first, then the action, which only waits.
    await open(page, "/admin", javaScript);
    await page.getByLabel("Email or username starts with").fill(bob.email);
    await page.getByRole("button", { name: "Search" }).click();
    await page.getByRole("link", { name: bob.email }).click();
    await expect(page.getByTestId("user-email")).toHaveText(bob.email);
    if (javaScript) await expect(page.locator("body[data-hydrated]")).toBeAttached();
    await expect(page.getByTestId("two-person-rule")).toContainText("another administrator approves it");
    await page.getByRole("button", { name: "Lock" }).click();
    await expect(page.getByTestId("form-error")).toContainText("confirm it is you");
    await stepUp(page, javaScript);
    await page.getByRole("button", { name: "Lock" }).click();
    const waiting = page.getByTestId("approval").filter({ hasText: "lock the account" });
    await expect(waiting).toContainText("You asked for this");
    await expect(waiting.getByTestId("approve")).toHaveCount(0);
    await expect(page.getByTestId("user-status")).toHaveText("active");
    await waitForMailTitled(cat.email, `Approval needed: ${ann.username} asks to change ${bob.username}'s account`);

    // Cat approves it on the list of requests that wait.
    const second = await signedInPage(browser, cat, javaScript, problems);
    await open(second.page, "/admin/approvals", javaScript);
    const request = second.page.getByTestId("approval").filter({ hasText: bob.username });
    await expect(request).toContainText(`Asked for by ${ann.username}.`);
    await request.getByTestId("approve").click();
    await expect(second.page.getByTestId("form-error")).toContainText("confirm it is you");
    await stepUp(second.page, javaScript);
    await expect(second.page).toHaveURL(/\/admin\/approvals/);
    await second.page.getByTestId("approval").filter({ hasText: bob.username }).getByTestId("approve").click();
    await expect(second.page.getByTestId("approval").filter({ hasText: bob.username })).toHaveCount(0);

    // Bob is locked now, and Ann hears that it was done.
    await open(page, page.url().split("?")[0].replace(/^https?:\/\/[^/]+/, ""), javaScript);
    await expect(page.getByTestId("user-status")).toHaveText("locked");
    await waitForMailTitled(ann.email, `Done: ${bob.username}'s account was changed`);
    await first.context.close();
    await second.context.close();
    expect(problems).toEqual([]);
  });
}
