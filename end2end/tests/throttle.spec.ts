// Repeated wrong passwords for one account lead to a clear "wait and try again" message,
// with and without JavaScript.
import { test, expect, open, signIn, signUp, uniqueUser } from "./fixtures";

for (const javaScript of [true, false]) {
  test.describe(javaScript ? "with JavaScript" : "without JavaScript", () => {
    test.use({ javaScriptEnabled: javaScript });

    test("repeated failures get a clear wait message", async ({ page, problems }) => {
      const user = uniqueUser(javaScript ? "thr" : "thrnojs");
      await signUp(page, user, javaScript);
      for (let attempt = 1; attempt <= 5; attempt++) {
        await open(page, "/login", javaScript);
        await signIn(page, user.email, `wrong password number ${attempt}`);
        await expect(page.getByTestId("form-error")).toHaveText("Incorrect email or password.");
      }
      await open(page, "/login", javaScript);
      await signIn(page, user.email, "wrong password number 6");
      await expect(page.getByTestId("form-error")).toHaveText(
        /^Too many attempts\. Please wait \d+ seconds? and try again\.$/,
      );
      expect(problems).toEqual([]);
    });
  });
}
