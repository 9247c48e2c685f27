// The signup → confirm → sign-in → sign-out slice, with JavaScript on (hydrated WASM) and
// off (plain form posts to the same server functions). Mail arrives over real SMTP.
import { test, expect, fillNewPassword, open, signUp, signIn, submitSignUp, uniqueUser, waitForMail, PASSWORD } from "./fixtures";

for (const javaScript of [true, false]) {
  const mode = javaScript ? "with JavaScript" : "without JavaScript";

  test.describe(mode, () => {
    test.use({ javaScriptEnabled: javaScript });

    test("sign up, sign in, see the username, sign out", async ({ page, problems }) => {
      const user = uniqueUser(javaScript ? "js" : "nojs");
      await signUp(page, user, javaScript);

      await signIn(page, user.email, PASSWORD);
      await expect(page).toHaveURL(/\/$/);
      await expect(page.getByTestId("header-username")).toHaveText(user.username);
      await expect(page.getByTestId("home-username")).toHaveText(user.username);

      // The session cookie is the strict one: __Host- prefix, HttpOnly, SameSite=Lax, Secure.
      const cookie = (await page.context().cookies()).find((c) => c.name === "__Host-bulwark");
      expect(cookie, "the __Host-bulwark cookie").toBeDefined();
      expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: "Lax", path: "/" });

      await page.getByRole("banner").getByRole("button", { name: "Sign out" }).click();
      await expect(page.getByRole("banner").getByRole("link", { name: "Sign in" })).toBeVisible();
      await expect(page.getByTestId("header-username")).toHaveCount(0);

      // Signed out for real: a fresh load still shows no one.
      await open(page, "/", javaScript);
      await expect(page.getByRole("heading", { name: "Accounts, done properly." })).toBeVisible();
      expect(problems).toEqual([]);
    });

    test("a wrong password shows the one generic message", async ({ page, problems }) => {
      const user = uniqueUser("wrongpw");
      await signUp(page, user, javaScript);
      await signIn(page, user.email, "definitely not my password");
      await expect(page.getByTestId("form-error")).toHaveText("Incorrect email or password.");
      await expect(page).toHaveURL(/\/login/);

      // An unknown email gets the very same words.
      await open(page, "/login", javaScript);
      await signIn(page, `nobody.${Date.now()}@example.com`, "definitely not my password");
      await expect(page.getByTestId("form-error")).toHaveText("Incorrect email or password.");
      expect(problems).toEqual([]);
    });

    test("the server's field errors are shown at their fields", async ({ page, problems }) => {
      await open(page, "/signup", javaScript);
      await page.getByLabel("Email").fill("someone@example.com");
      await page.getByLabel("Username").fill("root");
      await fillNewPassword(page, page.getByLabel("Password"), "passwordpassword1", javaScript);
      await page.getByRole("button", { name: "Create account" }).click();
      await expect(page.locator("#signup-username-error")).toHaveText("That username is reserved. Please choose another.");
      await expect(page.getByLabel("Username")).toHaveAttribute("aria-invalid", "true");
      await expect(page.locator("#signup-password-error")).toContainText("This password is too easy to guess.");
      await expect(page.getByLabel("Email")).toHaveAttribute("aria-invalid", "false");
      expect(problems).toEqual([]);
    });
  });
}

test("a field error appears while typing and disappears when fixed", async ({ page, problems }) => {
  await open(page, "/signup");
  const email = page.getByLabel("Email");
  const error = page.locator("#signup-email-error");

  await email.pressSequentially("alice@exa");
  await expect(error).toHaveText("Enter an email address like name@example.com.");
  await expect(email).toHaveAttribute("aria-invalid", "true");
  await expect(email).toHaveAttribute("aria-describedby", "signup-email-error");

  await email.pressSequentially("mple.com");
  await expect(error).toHaveText("");
  await expect(email).toHaveAttribute("aria-invalid", "false");

  const password = page.getByLabel("Password");
  await password.fill("short");
  await expect(page.locator("#signup-password-error")).toHaveText("Use at least 15 characters (10 more to go).");
  await password.fill(PASSWORD);
  await expect(page.locator("#signup-password-error")).toHaveText("");
  expect(problems).toEqual([]);
});

test("non-ASCII input gets no verdict in the browser, then the server's, which normalises it", async ({ page, problems }) => {
  // The browser's WASM carries no Unicode tables: it checks ASCII as the server does and
  // leaves other text to the server. "ｒｏｏｔ" (fullwidth) is "root" after NFKC: reserved.
  await open(page, "/signup");
  const username = page.getByLabel("Username");
  const error = page.locator("#signup-username-error");
  await username.fill("root");
  await expect(error).toHaveText("That username is reserved. Please choose another.");
  await username.fill("ｒｏｏｔ");
  await expect(error).toHaveText("");
  await expect(username).toHaveAttribute("aria-invalid", "false");
  await page.getByLabel("Email").fill("fullwidth@example.com");
  await fillNewPassword(page, page.getByLabel("Password"), PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(error).toHaveText("That username is reserved. Please choose another.");
  await expect(username).toHaveAttribute("aria-invalid", "true");
  expect(problems).toEqual([]);
});

test("signing up again with a taken email looks like a new signup; only the owner's mail differs", async ({
  page,
  problems,
}) => {
  const user = uniqueUser("dupe");
  await signUp(page, user);
  await submitSignUp(page, { email: user.email.toUpperCase(), username: `${user.username.slice(0, 28)}_b` });
  const notice = await waitForMail(user.email, 2);
  expect(notice.subject).toBe("Someone tried to sign up with your email address");
  expect(notice.text).not.toContain("token=");
  expect(notice.text).toContain("/login");
  expect(problems).toEqual([]);
});
