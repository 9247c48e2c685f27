// Downloading one's data, with JavaScript on and off: the password again first, then a
// JSON file with the account's profile, sessions and activity, and no secret.
import { test, expect, open, createAccount, signedInPage, stepUp, uniqueUser } from "./fixtures";
import { readFile } from "node:fs/promises";

for (const javaScript of [true, false]) {
  const mode = javaScript ? "with JavaScript" : "without JavaScript";

  test.describe(mode, () => {
    test.use({ javaScriptEnabled: javaScript });

    test(`my data downloads as a readable file after the password again ${mode}`, async ({
      browser,
      problems,
    }) => {
      const user = uniqueUser(javaScript ? "exportjs" : "exportnojs");
      createAccount(user);
      const { context, page } = await signedInPage(browser, user, javaScript, problems);
      await page.getByTestId("export-link").click();
      await expect(page).toHaveURL(/\/account\/export$/);
      await expect(page.getByTestId("export-contents")).toContainText("your sessions");
      await expect(page.getByTestId("export-download")).toHaveCount(0);
      await stepUp(page, javaScript);
      await expect(page).toHaveURL(/\/account\/export$/);
      const downloading = page.waitForEvent("download");
      await page.getByTestId("export-download").click();
      const download = await downloading;
      expect(download.suggestedFilename()).toMatch(/^bulwark-account-\d{4}-\d{2}-\d{2}\.json$/);
      const file = JSON.parse(await readFile((await download.path())!, "utf8"));
      expect(file.format).toBe("bulwark-account-export");
      expect(file.profile.email).toBe(user.email);
      expect(file.profile.username).toBe(user.username);
      expect(file.sessions.length).toBeGreaterThanOrEqual(1);
      expect(JSON.stringify(file)).not.toContain("argon2");
      await context.close();
    });
  });
}
