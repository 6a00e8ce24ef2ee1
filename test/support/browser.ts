import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium (installed by `scripts/setup.sh --test`), never a downloaded browser. */
const CHROMIUM = process.env.JITSEG_CHROMIUM ?? '/usr/bin/chromium';

/** Headless Chromium that plays media without a user gesture. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--autoplay-policy=no-user-gesture-required'],
  });
}
