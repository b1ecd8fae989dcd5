// Drives headless Chromium against `satoshipress serve`: the paid page masked, paying in the
// sandbox, live reload after an edit, the error overlay after a broken edit and its removal.
//
//   node preview.mjs BASE_URL SITE_DIR ARTIFACT_DIR
//
// Exits non-zero with a message on the first failed expectation. Screenshots go to
// ARTIFACT_DIR (paid page before and after paying, the overlay).
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";

const [base, siteDir, artifacts] = process.argv.slice(2);
fs.mkdirSync(artifacts, { recursive: true });
const PAID = "The secret is the second pour";
const guide = path.join(siteDir, "content/posts/brewing-guide.md");

function expect(cond, message) {
  if (!cond) throw new Error(message);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 1400 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));

  // 1. The paid page: masked, no paid text anywhere in the page.
  await page.goto(`${base}/posts/brewing-guide/`);
  await page.waitForSelector(".sp-dev-box .sp-dev-pay");
  let text = await page.evaluate(() => document.documentElement.outerHTML);
  expect(!text.includes(PAID), "paid text is in the page before paying");
  const mask = await page.textContent(".sp-dev-mask");
  expect(/^[\u2588 ]{40,}$/.test(mask), `the mask is not block characters: ${mask.slice(0, 40)}`);
  expect((await page.textContent(".sp-dev-pay")).includes("Pay 4000 satoshis (sandbox)"), "no pay button with the price");
  await page.screenshot({ path: path.join(artifacts, "paid-page-before.png"), fullPage: true });

  // 2. Pay: the certificate comes from the sandbox, the content from the Content API.
  await page.click(".sp-dev-pay");
  await page.waitForSelector(".sp-dev-paid");
  text = await page.textContent(".sp-dev-paid");
  expect(text.includes(PAID), "the paid text did not appear after paying");
  expect((await page.getAttribute(".sp-dev-paid", "data-sp-via")) === "query", "the first payment was not sent as ?paymentCert=");
  await page.screenshot({ path: path.join(artifacts, "paid-page-after.png"), fullPage: true });

  // 3. Two sections on one page: the second payment uses the X-Payment-Certificate header.
  await page.goto(`${base}/posts/tea-notes/`);
  await page.waitForSelector(".sp-dev-pay");
  const buttons = await page.$$(".sp-dev-pay");
  expect(buttons.length === 2, `tea notes should have 2 paid sections, has ${buttons.length}`);
  await buttons[0].click();
  await page.waitForSelector(".sp-dev-paid");
  await (await page.$(".sp-dev-pay")).click();
  await page.waitForFunction(() => document.querySelectorAll(".sp-dev-paid").length === 2);
  const vias = await page.$$eval(".sp-dev-paid", (els) => els.map((e) => e.dataset.spVia).sort());
  expect(vias.join(",") === "header,query", `certificates were sent as ${vias}`);
  expect((await page.textContent("body")).includes("two parts Assam"), "the blend section did not open");

  // 4. Edit the Markdown: the open page reloads with the change.
  await page.goto(`${base}/posts/brewing-guide/`);
  await page.waitForSelector(".sp-dev-pay");
  const source = fs.readFileSync(guide, "utf8");
  fs.writeFileSync(guide, source.replace("Pour-over rewards patience.", "Pour-over rewards EDITED patience."));
  await page.waitForFunction(() => document.body.innerText.includes("EDITED"), null, { timeout: 15000 });

  // 5. Break the front matter: the overlay shows path:line and the message.
  fs.writeFileSync(guide, source.replace("title: Brewing guide", "title: [broken"));
  await page.waitForSelector("#sp-dev-overlay", { timeout: 15000 });
  const overlay = await page.textContent("#sp-dev-overlay");
  expect(overlay.includes("brewing-guide.md:2"), `the overlay lacks path:line: ${overlay}`);
  expect(overlay.includes("not valid YAML"), `the overlay lacks the message: ${overlay}`);
  await page.screenshot({ path: path.join(artifacts, "error-overlay.png") });

  // 6. Fix it: the overlay goes and the page shows the fix.
  fs.writeFileSync(guide, source.replace("Pour-over rewards patience.", "Pour-over rewards FIXED patience."));
  await page.waitForFunction(() => !document.getElementById("sp-dev-overlay") && document.body.innerText.includes("FIXED"), null, { timeout: 15000 });

  expect(errors.length === 0, `JavaScript errors: ${errors.join("; ")}`);
  console.log("ok: masked, paid by query and header, reloaded, overlay shown and cleared");
} finally {
  await browser.close();
}
