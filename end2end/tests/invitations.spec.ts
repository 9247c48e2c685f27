// Invitations, with JavaScript on and off: an admin invites an address from the
// dashboard (after confirming it is them), the invited person opens the mailed link,
// chooses a username and a password (a guessable one is refused under its field), and
// signs in with them: the link itself never signs in, and it works once. A revoked
// invitation's link is dead at once.
import { test, expect, open, createAccount, signedInPage, stepUp, tokenLink, uniqueUser, waitForMailTitled, signIn, PASSWORD } from "./fixtures";
import type { Page } from "@playwright/test";

const SUBJECT = "Your invitation to Bulwark";

async function openInvitations(page: Page, javaScript: boolean) {
  await page.getByTestId("admin-link").click();
  await page.getByRole("link", { name: "Invitations" }).click();
  await expect(page).toHaveURL(/\/admin\/invitations$/);
  if (javaScript) await expect(page.locator("body[data-hydrated]")).toBeAttached();
}

async function sendInvitation(page: Page, email: string) {
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Role").selectOption("user");
  await page.getByRole("button", { name: "Send the invitation" }).click();
}

for (const javaScript of [true, false]) {
  const mode = javaScript ? "with JavaScript" : "without JavaScript";

  test.describe(mode, () => {
    test.use({ javaScriptEnabled: javaScript });

    test(`an invited person chooses a username and password, then signs in ${mode}`, async ({ browser, problems }) => {
      const admin = uniqueUser(javaScript ? "invadminjs" : "invadminnojs");
      const invited = uniqueUser(javaScript ? "invitedjs" : "invitednojs");
      createAccount(admin, "admin");
      const { context, page } = await signedInPage(browser, admin, javaScript, problems);
      await openInvitations(page, javaScript);
      await sendInvitation(page, invited.email);
      await expect(page.getByTestId("form-error")).toContainText("confirm it is you");
      await stepUp(page, javaScript);
      await expect(page).toHaveURL(/\/admin\/invitations$/);
      await sendInvitation(page, invited.email);
      await expect(page.getByTestId("invitation-sent")).toBeVisible();
      const row = page.getByTestId("invitation").filter({ hasText: invited.email });
      await expect(row).toHaveAttribute("data-status", "sent");

      const mail = await waitForMailTitled(invited.email, SUBJECT);
      const link = tokenLink(mail, "/invitation");
      const theirs = await browser.newContext({ javaScriptEnabled: javaScript });
      const invitee = await theirs.newPage();
      await open(invitee, link, javaScript);
      await expect(invitee.getByTestId("invitation-for")).toContainText(invited.email);
      await invitee.getByLabel("Username").fill(invited.username);
      await invitee.getByLabel("Password", { exact: true }).fill("passwordpassword1");
      await invitee.getByRole("button", { name: "Create my account" }).click();
      await expect(invitee.locator("#invitation-password-error")).toContainText("too easy to guess");
      await invitee.getByLabel("Username").fill(invited.username);
      await invitee.getByLabel("Password", { exact: true }).fill(PASSWORD);
      await invitee.getByRole("button", { name: "Create my account" }).click();
      await expect(invitee).toHaveURL(/\/login/);
      await expect(invitee.getByTestId("invitation-accepted")).toBeVisible();
      await expect(invitee.getByTestId("header-username")).toHaveCount(0);
      await signIn(invitee, invited.email, PASSWORD);
      await expect(invitee).toHaveURL(/\/$/);
      await expect(invitee.getByTestId("header-username")).toHaveText(invited.username);
      await theirs.close();

      // Used once (a browser of its own: the first one's notice would show for a minute).
      const later = await browser.newContext({ javaScriptEnabled: javaScript });
      const again = await later.newPage();
      await open(again, link, javaScript);
      await expect(again.getByTestId("link-invalid")).toBeVisible();
      await later.close();

      await open(page, "/admin/invitations", javaScript);
      await expect(page.getByTestId("invitation").filter({ hasText: invited.email })).toHaveAttribute("data-status", "accepted");
      await context.close();
    });

    test(`a revoked invitation's link is dead at once ${mode}`, async ({ browser, problems }) => {
      const admin = uniqueUser(javaScript ? "revadminjs" : "revadminnojs");
      const invited = uniqueUser(javaScript ? "revokedjs" : "revokednojs");
      createAccount(admin, "admin");
      const { context, page } = await signedInPage(browser, admin, javaScript, problems);
      await openInvitations(page, javaScript);
      await sendInvitation(page, invited.email);
      await stepUp(page, javaScript);
      await sendInvitation(page, invited.email);
      await expect(page.getByTestId("invitation-sent")).toBeVisible();
      const link = tokenLink(await waitForMailTitled(invited.email, SUBJECT), "/invitation");
      const row = page.getByTestId("invitation").filter({ hasText: invited.email });
      await row.getByTestId("revoke-invitation").click();
      await expect(page.getByTestId("invitation").filter({ hasText: invited.email })).toHaveAttribute("data-status", "revoked");
      const theirs = await browser.newContext({ javaScriptEnabled: javaScript });
      const invitee = await theirs.newPage();
      await open(invitee, link, javaScript);
      await expect(invitee.getByTestId("link-invalid")).toBeVisible();
      await expect(invitee.getByRole("button", { name: "Create my account" })).toHaveCount(0);
      await theirs.close();
      await context.close();
    });
  });
}
