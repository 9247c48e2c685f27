// Email verification over real SMTP: the mail, its link, the confirm form (the signup's
// password), dead links, resending, and an unconfirmed signup at the sign-in form.
// JavaScript on and off.
import {
  test,
  expect,
  open,
  confirmEmail,
  mailsTo,
  signIn,
  submitSignUp,
  uniqueUser,
  verificationLink,
  waitForMail,
  PASSWORD,
} from "./fixtures";
import { baseURL } from "../playwright.config";

for (const javaScript of [true, false]) {
  const mode = javaScript ? "with JavaScript" : "without JavaScript";

  test.describe(mode, () => {
    test.use({ javaScriptEnabled: javaScript });

    test("sign up, receive the mail, follow the link, sign in", async ({ page, problems }) => {
      const user = uniqueUser(javaScript ? "mail" : "mailnojs");
      await submitSignUp(page, user, javaScript);

      const mail = await waitForMail(user.email);
      expect(mail.subject).toBe("Confirm your email address");
      expect(mail.text).toContain("Hello,");
      expect(mail.text, "no text the requester chose").not.toContain(user.username);
      const link = verificationLink(mail);
      expect(link.startsWith(`${baseURL}/verify-email?token=`), link).toBe(true);
      expect(mail.html).toContain(link);

      // Not confirmed yet: the one generic error, nothing more.
      await open(page, "/login", javaScript);
      await signIn(page, user.email, PASSWORD);
      await expect(page.getByTestId("form-error")).toHaveText("Incorrect email or password.");

      const response = await page.goto(link);
      expect(response?.headers()["referrer-policy"]).toBe("no-referrer");
      await confirmEmail(page, link, javaScript);
      await signIn(page, user.email, PASSWORD);
      await expect(page).toHaveURL(/\/$/);
      await expect(page.getByTestId("header-username")).toHaveText(user.username);
      expect(problems).toEqual([]);
    });

    test("a used link says so and leads to a new one", async ({ page, problems }) => {
      const user = uniqueUser(javaScript ? "used" : "usednojs");
      await submitSignUp(page, user, javaScript);
      const link = verificationLink(await waitForMail(user.email));
      await confirmEmail(page, link, javaScript);

      await open(page, link, javaScript);
      await page.getByLabel("Password").fill(PASSWORD);
      await page.getByRole("button", { name: "Confirm my email address" }).click();
      if (javaScript) {
        await expect(page.getByTestId("form-error")).toHaveText(
          "This link is invalid, has already been used, or has expired.",
        );
        await page.getByRole("link", { name: "Get a new link" }).click();
      }
      await expect(page).toHaveURL(/\/verify-email\/resend/);
      if (!javaScript) {
        await expect(page.getByTestId("link-invalid")).toBeVisible();
      }
      expect(problems).toEqual([]);
    });

    test("the link asks for the signup's password and refuses another", async ({ page, problems }) => {
      const user = uniqueUser(javaScript ? "confpw" : "confpwnojs");
      await submitSignUp(page, user, javaScript);
      const link = verificationLink(await waitForMail(user.email));
      await open(page, link, javaScript);
      await page.getByLabel("Password").fill("not the password chosen at signup");
      await page.getByRole("button", { name: "Confirm my email address" }).click();
      await expect(page.getByText("This is not the password chosen when signing up.")).toBeVisible();
      await confirmEmail(page, link, javaScript);
      expect(problems).toEqual([]);
    });

    test("the resend page mails a new link that works", async ({ page, problems }) => {
      const user = uniqueUser(javaScript ? "resend" : "resendnojs");
      await submitSignUp(page, user, javaScript);
      await waitForMail(user.email, 1);

      await open(page, "/verify-email/resend", javaScript);
      await page.getByLabel("Email").fill(user.email);
      await page.getByRole("button", { name: "Send a new link" }).click();
      await expect(page).toHaveURL(/\/check-email$/);

      const second = await waitForMail(user.email, 2);
      await confirmEmail(page, verificationLink(second), javaScript);
      await signIn(page, user.email, PASSWORD);
      await expect(page.getByTestId("header-username")).toHaveText(user.username);
      expect(problems).toEqual([]);
    });
  });
}

test("the resend page answers an unknown address exactly as a known one, and mails nobody", async ({
  page,
  problems,
}) => {
  const unknown = uniqueUser("ghost").email;
  await open(page, "/verify-email/resend");
  await page.getByLabel("Email").fill(unknown);
  await page.getByRole("button", { name: "Send a new link" }).click();
  await expect(page).toHaveURL(/\/check-email$/);
  await expect(page.getByTestId("check-email")).toBeVisible();
  // Give the sender time to have sent anything it was going to.
  await page.waitForTimeout(1500);
  expect(await mailsTo(unknown)).toEqual([]);
  expect(problems).toEqual([]);
});
