// Popups in every skin people read the wiki with: Vector 2022 (1.43's default), Vector legacy
// (1.39's default), Minerva (mobile, on a phone-sized touch screen) and the other skins Debian's
// package bundles (Timeless on a phone-sized screen, MonoBook). For each: the page opens with
// ?useskin=, Bob's edit and then a patrol alert pop up, and each popup is visible, opaque, inside
// the viewport, not covered by the skin (the element at its centre is part of it), and its text
// is readable on the skin's popup background (WCAG AA contrast, 4.5:1). Screenshots of each page
// and popup: e2e/artifacts/mw-VERSION/skin-NAME.png, skin-NAME-notice.png, skin-NAME-alert.png.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import {
  ARTIFACTS, MW_VERSION, join, startEnv, openAs, waitConnected, waitForNotice, waitFor, publish, sleep,
} from '../lib/env.mjs';
import { MwApi } from '../lib/mwapi.mjs';

const DESKTOP = { viewport: { width: 1200, height: 800 } };
// A phone (the size of a common one): what Minerva is made for.
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

// The skins this test must see (their code names, as in ?useskin=), then those it also tries when
// the wiki has them.
const REQUIRED = [
  { skin: 'vector-2022', device: DESKTOP },
  { skin: 'vector', device: DESKTOP },
  { skin: 'minerva', device: PHONE },
];
const OPTIONAL = [
  { skin: 'timeless', device: PHONE },
  { skin: 'monobook', device: DESKTOP },
];
// The parts of a popup that carry text, and the least contrast each must have on its background.
const MIN_CONTRAST = 4.5;

/**
 * Checks a popup as a reader sees it: visible, opaque, inside the viewport, on top, and every
 * text part readable. Returns its bounding box.
 */
async function checkPopup(page, popup, viewport, what, t) {
  await popup.and(page.locator('.mw-notification-visible')).waitFor();
  // Fully faded in.
  await waitFor(() => popup.evaluate((el) => getComputedStyle(el).opacity === '1'),
    { timeout: 3000, what: `the ${what} to be opaque` });
  assert.ok(await popup.isVisible(), `the ${what} is visible`);
  const box = await popup.boundingBox();
  const { width, height } = viewport;
  t.diagnostic(`${what} at x=${box.x} y=${box.y} ${box.width}x${box.height} in ${width}x${height}`);
  assert.ok(box.width > 50 && box.height > 20, `a ${what} of ${box.width}x${box.height} is too small to read`);
  assert.ok(box.x >= 0 && box.y >= 0 && box.x + box.width <= width && box.y + box.height <= height,
    `the ${what} (x=${box.x} y=${box.y} ${box.width}x${box.height}) is not inside the ${width}x${height} viewport`);
  // Nothing of the skin lies over it: what is at its centre is the popup itself.
  const onTop = await popup.evaluate((el) => {
    const r = el.getBoundingClientRect();
    return el.contains(document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2));
  });
  assert.ok(onTop, `the ${what} is covered by something else`);

  const contrasts = await popup.evaluate((el) => {
    const rgba = (c) => {
      const m = c.match(/rgba?\(([^)]+)\)/);
      if (!m) return null;
      const [r, g, b, a = 1] = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
      return { r, g, b, a };
    };
    const over = (top, bottom) => ({
      r: top.r * top.a + bottom.r * (1 - top.a),
      g: top.g * top.a + bottom.g * (1 - top.a),
      b: top.b * top.a + bottom.b * (1 - top.a),
      a: 1,
    });
    // The background a text sits on: the first opaque-ish background from it up to the page.
    const background = (node) => {
      const layers = [];
      for (let n = node; n; n = n.parentElement) {
        const c = rgba(getComputedStyle(n).backgroundColor);
        if (c && c.a > 0) layers.push(c);
        if (c && c.a === 1) break;
      }
      return layers.reverse().reduce((acc, c) => over(c, acc), { r: 255, g: 255, b: 255, a: 1 });
    };
    const lum = ({ r, g, b }) => {
      const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const out = [];
    const parts = el.querySelectorAll('.mw-notification-title, .ext-realtimenotify-user, .ext-realtimenotify-page, '
      + '.ext-realtimenotify-summary, .ext-realtimenotify-reason');
    for (const part of parts) {
      if (!part.innerText.trim()) continue;
      // Opacity between the text and the popup fades the text into the background.
      let opacity = 1;
      for (let n = part; n && n !== el; n = n.parentElement) opacity *= Number(getComputedStyle(n).opacity);
      const bg = background(part);
      const fg = rgba(getComputedStyle(part).color);
      const text = over({ ...fg, a: fg.a * opacity }, bg);
      const [hi, lo] = [lum(text), lum(bg)].sort((a, b) => b - a);
      out.push({ part: part.className, text: part.innerText.slice(0, 40), ratio: (hi + 0.05) / (lo + 0.05) });
    }
    return out;
  });
  assert.ok(contrasts.length >= 3, `the ${what}'s text parts: ${JSON.stringify(contrasts)}`);
  for (const c of contrasts) {
    assert.ok(c.ratio >= MIN_CONTRAST,
      `${c.part} ("${c.text}") in the ${what}: contrast ${c.ratio.toFixed(2)}:1 on its background, below ${MIN_CONTRAST}:1`);
  }
  return box;
}

describe(`popups in each skin (MediaWiki ${MW_VERSION})`, () => {
  let env, bob, skins;
  const browsers = new Map(); // one signed-in browser per device

  before(async () => {
    env = await startEnv('skins');
    const admin = await new MwApi(env.wiki).login('Admin');
    await admin.edit('Skin page', 'A page to read in every skin.', 'setup');
    const info = await admin.request({ action: 'query', meta: 'siteinfo', siprop: 'skins' });
    skins = new Set(info.query.skins.filter((s) => !s.unusable).map((s) => s.code));
    bob = await new MwApi(env.wiki).login('Bob');
  });

  after(async () => {
    await env?.stop();
  });

  it('the wiki has Vector 2022, Vector legacy and Minerva', () => {
    for (const { skin } of REQUIRED) assert.ok(skins.has(skin), `skin ${skin} missing: ${[...skins].join(', ')}`);
  });

  for (const { skin, device } of [...REQUIRED, ...OPTIONAL]) {
    it(`${skin} (${device === PHONE ? 'phone' : 'desktop'}): the popup is visible and inside the viewport`, async (t) => {
      if (!skins.has(skin)) {
        assert.ok(OPTIONAL.some((o) => o.skin === skin));
        t.skip(`${skin} is not installed on this wiki`);
        return;
      }
      if (!browsers.has(device)) browsers.set(device, await openAs(env, 'Alice', 'Main_Page', device));
      const { page } = browsers.get(device);
      await page.goto(`${env.wiki}/index.php?title=Skin_page&useskin=${skin}`);
      assert.equal(await page.evaluate(() => mw.config.get('skin')), skin);
      await waitConnected(page);

      const summary = `read in ${skin}`;
      await bob.edit('Skin page', `Bob's text for ${skin}.`, summary);
      const text = await waitForNotice(page, summary, 3000);
      assert.ok(text.includes('Bob edited Skin page'), text);

      const notice = page.locator('.mw-notification.ext-realtimenotify-notice', { hasText: summary });
      await checkPopup(page, notice, device.viewport, 'popup', t);
      // The page title is a link to the diff, inside the popup.
      assert.equal(await notice.locator('a.ext-realtimenotify-page').count(), 1);

      // A patrol alert (straight into Redis, no audience: every reader gets it), a popup of its own.
      await sleep(1100); // not in the burst of the edit
      await publish(env, {
        type: 'alert', page_title: 'Skin page', user_name: 'Bob', timestamp: new Date().toISOString(),
        summary: `alert in ${skin}`, reasons: ['blanking', 'large_removal'],
      });
      const alert = page.locator('.mw-notification.ext-realtimenotify-alert', { hasText: `alert in ${skin}` });
      await waitFor(async () => (await alert.count()) === 1, { timeout: 3000, what: 'the alert' });
      await checkPopup(page, alert, device.viewport, 'alert', t);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, `skin-${skin}.png`) });
      await notice.screenshot({ path: join(ARTIFACTS, `skin-${skin}-notice.png`) });
      await alert.screenshot({ path: join(ARTIFACTS, `skin-${skin}-alert.png`) });

      // Both are readable at once: the alert did not land on the popup (nor the popup leave).
      const [noticeBox, alertBox] = [await notice.boundingBox(), await alert.boundingBox()];
      t.diagnostic(`now popup at y=${noticeBox?.y}, alert at y=${alertBox?.y}`);
      assert.ok(noticeBox && await notice.isVisible(), 'the popup is still there beside the alert');
      assert.ok(noticeBox.y + noticeBox.height <= alertBox.y + 1 || alertBox.y + alertBox.height <= noticeBox.y + 1,
        `the popups overlap (popup y=${noticeBox.y}..${noticeBox.y + noticeBox.height}, `
        + `alert y=${alertBox.y}..${alertBox.y + alertBox.height})`);
    });
  }
});
