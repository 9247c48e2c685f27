// Passkeys in a real browser: Chromium's virtual authenticator (the DevTools WebAuthn
// domain) stands in for a phone or a security key. Adding a passkey from the security
// page (after a step-up), signing in with it by the button and by the browser's autofill,
// a passkey as the second step after the password and for step-up, refusals (no user
// verification, a bad signature), removing it, and the pages without JavaScript.
// The server is reached as `localhost`, its relying party ID (an IP address cannot be one).
import type { CDPSession, Page } from "@playwright/test";
import {
  test,
  expect,
  open,
  createAccount,
  signedInPage,
  signIn,
  uniqueUser,
  waitForMailTitled,
  PASSWORD,
} from "./fixtures";

type Authenticator = { cdp: CDPSession; id: string };

/** A platform authenticator with user verification, holding discoverable credentials. */
async function addAuthenticator(page: Page): Promise<Authenticator> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable", { enableUI: false });
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      ctap2Version: "ctap2_1",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, id: authenticatorId };
}

async function presence(authenticator: Authenticator, enabled: boolean) {
  await authenticator.cdp.send("WebAuthn.setAutomaticPresenceSimulation", { authenticatorId: authenticator.id, enabled });
}

/** On the step-up page: the password (an account without a factor yet). */
async function stepUpWithPassword(page: Page) {
  await expect(page).toHaveURL(/\/step-up\?next=/);
  await expect(page.locator("body[data-hydrated]")).toBeAttached();
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Confirm", exact: true }).click();
  await expect(page).not.toHaveURL(/\/step-up/);
  await expect(page.locator("body[data-hydrated]")).toBeAttached();
}

/** From the security page: adds a passkey named `name` (a step-up first, if asked). */
async function addPasskey(page: Page, name: string) {
  await open(page, "/account/security");
  await page.getByLabel("Name it").fill(name);
  await page.getByRole("button", { name: "Add a passkey" }).click();
  await page.waitForURL(/\/step-up\?next=|\/account\/security\/recovery-codes$/);
  if (/\/step-up/.test(page.url())) {
    await stepUpWithPassword(page);
    await page.getByLabel("Name it").fill(name);
    await page.getByRole("button", { name: "Add a passkey" }).click();
  }
}

/** A user with one passkey (and its recovery codes saved), signed in on `page`. */
async function userWithPasskey(browser: import("@playwright/test").Browser, prefix: string, problems: string[]) {
  const user = uniqueUser(prefix);
  createAccount(user);
  const { context, page } = await signedInPage(browser, user, true, problems);
  const authenticator = await addAuthenticator(page);
  await addPasskey(page, "Test laptop");
  await expect(page).toHaveURL(/\/account\/security\/recovery-codes$/);
  await expect(page.getByTestId("recovery-codes").locator("li")).toHaveCount(10);
  await page.getByTestId("codes-saved").click();
  await expect(page).toHaveURL(/\/account\/security(\?notice=[a-z-]+)?$/);
  await expect(page.getByTestId("factor-status")).toContainText("On.");
  return { user, context, page, authenticator };
}

async function signOut(page: Page) {
  await page.getByRole("navigation", { name: "Account" }).getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("banner").getByRole("link", { name: "Sign in" })).toBeVisible();
}

test("a passkey is added, then signs in by its button and by the browser's autofill", async ({ browser, problems }) => {
  const { user, page, authenticator } = await userWithPasskey(browser, "pkadd", problems);
  const item = page.getByTestId("passkey");
  await expect(item).toHaveCount(1);
  await expect(item.getByTestId("passkey-name")).toHaveText("Test laptop");
  await expect(item.getByTestId("passkey-discoverable")).toBeVisible();
  await waitForMailTitled(user.email, "A passkey was added");
  const { credentials } = await authenticator.cdp.send("WebAuthn.getCredentials", { authenticatorId: authenticator.id });
  expect(credentials).toHaveLength(1);
  expect(credentials[0].isResidentCredential).toBe(true);
  expect(credentials[0].rpId).toBe("localhost");
  // The user handle is random: neither the account's id nor its address.
  const handle = Buffer.from(credentials[0].userHandle, "base64").toString("latin1");
  expect(handle).not.toContain(user.email);
  expect(handle.length).toBe(16);

  // The button: the autofill request (waiting for presence) is aborted, a modal one asked.
  await signOut(page);
  await presence(authenticator, false);
  let starts = 0;
  const start = "**/api/passkey-sign-in-start";
  await page.route(start, async (route) => {
    starts += 1;
    // The person touches the authenticator once the button has asked: presence comes on
    // before the modal request's challenge reaches the page (a request already waiting
    // would not notice it), never while the autofill's waits.
    if (starts === 2) await presence(authenticator, true);
    await route.continue();
  });
  await open(page, "/login");
  await expect.poll(() => starts).toBe(1);
  await page.getByRole("button", { name: "Sign in with a passkey" }).click();
  // A request of its own (the autofill's was aborted), answered once the person touches
  // the authenticator.
  await expect.poll(() => starts).toBe(2);
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId("header-username")).toHaveText(user.username);
  await page.unroute(start);

  // The autofill: opening the page with the authenticator at hand signs in (Chromium's
  // automation answers a conditional request at once; a person picks the passkey from the
  // email field's suggestions).
  await signOut(page);
  await open(page, "/login");
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId("header-username")).toHaveText(user.username);
  await open(page, "/account/activity");
  await expect(page.getByText("Signed in with a passkey").first()).toBeVisible();
});

test("after the password a passkey answers the second step, and it is the first choice for a step-up", async ({
  browser,
  problems,
}) => {
  const { user, page, authenticator } = await userWithPasskey(browser, "pkstep", problems);
  await signOut(page);
  await presence(authenticator, false);
  await open(page, "/login");
  await signIn(page, user.email, PASSWORD);
  await expect(page).toHaveURL(/\/login\/second-step$/);
  await expect(page.locator("body[data-hydrated]")).toBeAttached();
  await presence(authenticator, true);
  await page.getByRole("button", { name: "Use a passkey" }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId("header-username")).toHaveText(user.username);

  // Removing the passkey needs a step-up: the passkey is offered first.
  await open(page, "/account/security");
  await page.getByTestId("remove-passkey").click();
  await page.getByTestId("step-up-link").click();
  await expect(page).toHaveURL(/\/step-up\?next=/);
  await expect(page.locator("body[data-hydrated]")).toBeAttached();
  await page.getByRole("button", { name: "Confirm with a passkey" }).click();
  await expect(page).toHaveURL(/\/account\/security$/);
  await expect(page.locator("body[data-hydrated]")).toBeAttached();
  await page.getByTestId("remove-passkey").click();
  await expect(page.getByTestId("passkey-removed-notice")).toBeVisible();
  await expect(page.getByTestId("factor-status")).toContainText("Off.");
  await expect(page.getByTestId("no-passkeys")).toBeVisible();
  await waitForMailTitled(user.email, "Two-factor sign-in is off");
});

test("a passkey without user verification or with a bad signature is refused", async ({ browser, problems }) => {
  const { user, page, authenticator } = await userWithPasskey(browser, "pkbad", problems);
  await signOut(page);
  await presence(authenticator, false);
  for (const bits of [{ isBadUV: true }, { isBogusSignature: true }]) {
    await authenticator.cdp.send("WebAuthn.setResponseOverrideBits", { authenticatorId: authenticator.id, ...bits });
    await open(page, "/login");
    await signIn(page, user.email, PASSWORD);
    await expect(page).toHaveURL(/\/login\/second-step$/);
    await expect(page.locator("body[data-hydrated]")).toBeAttached();
    await presence(authenticator, true);
    await page.getByRole("button", { name: "Use a passkey" }).click();
    await expect(page.getByTestId("form-error")).toContainText("That passkey was not accepted");
    await expect(page).toHaveURL(/\/login\/second-step/);
    await presence(authenticator, false);
  }
  await authenticator.cdp.send("WebAuthn.setResponseOverrideBits", { authenticatorId: authenticator.id });
  // The authenticator itself refusing user verification: the browser reports a failure,
  // and the page says so.
  await authenticator.cdp.send("WebAuthn.setUserVerified", { authenticatorId: authenticator.id, isUserVerified: false });
  await presence(authenticator, true);
  await page.getByRole("button", { name: "Use a passkey" }).click();
  await expect(page.locator("[data-passkey-message]:visible, [data-testid=form-error]").first()).toBeVisible();
  await expect(page.getByTestId("header-username")).toHaveCount(0);
});

test("without JavaScript the passkey buttons are absent and the pages say why", async ({ browser }) => {
  const user = uniqueUser("pknojs");
  createAccount(user);
  const { page } = await signedInPage(browser, user, false, []);
  await open(page, "/account/security", false);
  await expect(page.getByTestId("passkeys-need-js")).toContainText("needs JavaScript");
  await expect(page.getByRole("button", { name: "Add a passkey" })).toHaveCount(0);
  await page.getByRole("button", { name: "Sign out" }).click();
  await open(page, "/login", false);
  await expect(page.getByTestId("passkeys-need-js")).toContainText("Passkeys need JavaScript");
  await expect(page.getByRole("button", { name: "Sign in with a passkey" })).toHaveCount(0);
  await signIn(page, user.email, PASSWORD);
  await expect(page).toHaveURL(/\/$/);
});
