// A page on another origin (127.0.0.1, while the app is on localhost) posts forms to the
// app. Chromium labels those requests `Sec-Fetch-Site: cross-site`; the app must refuse
// them and change nothing.
import { test, expect, open, signIn, signUp, uniqueUser, PASSWORD } from "./fixtures";
import { baseURL } from "../playwright.config";

const ATTACKER = "http://127.0.0.1:4999/attack";

function attackPage(action: string, fields: Record<string, string>): string {
  const inputs = Object.entries(fields)
    .map(([name, value]) => `<input type="hidden" name="${name}" value="${value}">`)
    .join("");
  return `<!doctype html><title>Win a prize</title>
    <form id="f" method="post" action="${baseURL}${action}">${inputs}</form>
    <script>document.getElementById("f").submit()</script>`;
}

test("a cross-site signup post is refused and creates no account", async ({ page, problems }) => {
  const victim = uniqueUser("csrf");
  await page.route(ATTACKER, (route) =>
    route.fulfill({ contentType: "text/html", body: attackPage("/api/signup", { ...victim, password: PASSWORD }) }),
  );
  const refused = page.waitForResponse((r) => r.url().endsWith("/api/signup"));
  await page.goto(ATTACKER);
  expect((await refused).status()).toBe(403);

  // Nothing was created: signing up for real with the same details works as a fresh
  // account would, and signing in with them succeeds only after that.
  await open(page, "/login");
  await signIn(page, victim.email, PASSWORD);
  await expect(page.getByTestId("form-error")).toHaveText("Incorrect email or password.");
  await signUp(page, victim);
  await signIn(page, victim.email, PASSWORD);
  await expect(page.getByTestId("header-username")).toHaveText(victim.username);
  expect(problems).toEqual([]);
});

test("a cross-site sign-out post leaves the session alone", async ({ page, problems }) => {
  const user = uniqueUser("csrfout");
  await signUp(page, user);
  await signIn(page, user.email, PASSWORD);
  await expect(page.getByTestId("header-username")).toHaveText(user.username);

  await page.route(ATTACKER, (route) => route.fulfill({ contentType: "text/html", body: attackPage("/api/logout", {}) }));
  const refused = page.waitForResponse((r) => r.url().endsWith("/api/logout"));
  await page.goto(ATTACKER);
  expect((await refused).status()).toBe(403);

  await open(page, "/");
  await expect(page.getByTestId("header-username")).toHaveText(user.username);
  expect(problems).toEqual([]);
});
