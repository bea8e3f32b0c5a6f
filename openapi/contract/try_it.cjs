// Drives the /docs page the way a reader does: types an API key at the
// top, opens "searchEvents", fills its parameters, presses Send, and
// prints what the page shows as the answer. Debian's chromium, driven by
// playwright-core from peers/node_modules (no browser download).
//
// Usage: node openapi/contract/try_it.cjs BASE_URL API_KEY
const path = require("path");
const { chromium } = require(path.join(__dirname, "../../peers/node_modules/playwright-core"));

(async () => {
  const [base, key] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.TURNOUT_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  try {
    const page = await browser.newPage();
    await page.goto(base + "/docs");
    await page.fill("#api-key", key);
    const op = page.locator("details#searchEvents");
    await op.locator("summary").click();
    await op.locator("form.try input[name=zipcode]").fill("19107");
    await op.locator("form.try input[name=max_dist]").fill("10");
    await op.locator("form.try button[type=submit]").click();
    const answer = op.locator("form.try > pre");
    await page.waitForFunction(() => {
      const pre = document.querySelector("details#searchEvents form.try > pre");
      return pre && !pre.hidden && !pre.textContent.endsWith("…");
    }, null, { timeout: 15000 });
    process.stdout.write(await answer.textContent());
  } finally {
    await browser.close();
  }
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
