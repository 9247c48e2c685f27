// "My sessions": two browsers signed in as one user; one sees both and signs the other
// out, which is signed out at its next navigation. With JavaScript on and off.
import { test, expect, open, signUp, signIn, signedInPage, stepUp, uniqueUser, PASSWORD } from "./fixtures";

for (const javaScript of [true, false]) {
  const mode = javaScript ? "with JavaScript" : "without JavaScript";

  test.describe(mode, () => {
    // The page this test drives runs with JavaScript exactly when the test says so.
    test.use({ javaScriptEnabled: javaScript });

    test(`revoke another device's session ${mode}`, async ({ page, problems, browser }) => {
      const user = uniqueUser(javaScript ? "sessjs" : "sessnojs");
      await signUp(page, user, javaScript);
      await signIn(page, user.email, PASSWORD);
      await expect(page).toHaveURL(/\/$/);

      const other = await signedInPage(browser, user, javaScript, problems);
      await open(other.page, "/", javaScript);
      await expect(other.page.getByTestId("header-username")).toHaveText(user.username);

      await open(page, "/account/sessions", javaScript);
      const sessions = page.getByTestId("session");
      await expect(sessions).toHaveCount(2);
      await expect(sessions.filter({ hasText: "This device" })).toHaveCount(1);

      // Signing another session out needs the password again (a stolen session must not
      // be able to sign its owner out).
      await sessions.filter({ hasNotText: "This device" }).getByRole("button", { name: /^Sign out the/ }).click();
      await expect(page.getByTestId("form-error")).toContainText("confirm it is you");
      await stepUp(page, javaScript);
      await expect(page).toHaveURL(/\/account\/sessions/);
      await expect(sessions).toHaveCount(2);
      await sessions.filter({ hasNotText: "This device" }).getByRole("button", { name: /^Sign out the/ }).click();
      await expect(sessions).toHaveCount(1);
      await expect(sessions.first()).toContainText("This device");

      // The other browser is signed out at its next navigation.
      await open(other.page, "/", javaScript);
      await expect(other.page.getByTestId("header-username")).toHaveCount(0);
      await expect(other.page.getByRole("banner").getByRole("link", { name: "Sign in" })).toBeVisible();
      await other.context.close();

      // And this one is still signed in.
      await open(page, "/", javaScript);
      await expect(page.getByTestId("header-username")).toHaveText(user.username);
      expect(problems).toEqual([]);
    });
  });
}

test("sign out everywhere ends this session too", async ({ page, problems, browser }) => {
  const user = uniqueUser("everywhere");
  await signUp(page, user);
  await signIn(page, user.email, PASSWORD);
  await expect(page).toHaveURL(/\/$/);
  const other = await signedInPage(browser, user, true, problems);

  await open(page, "/account/sessions");
  await expect(page.getByTestId("session")).toHaveCount(2);
  // Signing out everywhere needs the password again first.
  await page.getByRole("button", { name: "Sign out everywhere" }).click();
  await expect(page.getByTestId("form-error")).toContainText("confirm it is you");
  await stepUp(page);
  await expect(page).toHaveURL(/\/account\/sessions$/);
  await page.getByRole("button", { name: "Sign out everywhere" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByRole("banner").getByRole("link", { name: "Sign in" })).toBeVisible();

  await open(other.page, "/account/sessions");
  await expect(other.page.getByText("to see your sessions")).toBeVisible();
  await other.context.close();
  expect(problems).toEqual([]);
});
