const { chromium } = require('@playwright/test');
(async () => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium' });
  const page = await browser.newPage();
  page.on('pageerror', e => console.log('PAGEERROR', String(e).slice(0, 300)));
  page.on('console', m => { if (m.type()==='error') console.log('CONSOLE', m.text().slice(0, 600)); });
  await page.route(/\/pkg\/(chunk|split)_[^/]*\.wasm$/, (route) => route.abort());
  await page.goto('http://localhost:3007/email-change/cancel?token=' + '0'.repeat(64));
  await page.waitForTimeout(2000);
  await page.getByRole('button', { name: 'Cancel the change' }).click();
  await page.waitForTimeout(3000);
  console.log(page.url());
  await browser.close();
})();
