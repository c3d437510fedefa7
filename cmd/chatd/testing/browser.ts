import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** Where screenshots of failed browser tests go (ignored by git). */
export const FAILURE_DIR = join(__dirname, '..', '..', '..', 'test-results', 'browser');

/** Debian's Chromium, as `make browser` installs it. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** A signed-in page of its own browser context (its own storage: another device). */
export async function signedInPage(browser: Browser, baseUrl: string, userId: string, viewport = { width: 1100, height: 720 }): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  await page.goto(baseUrl);
  await page.getByLabel('User id', { exact: true }).fill(userId);
  await page.getByRole('button', { name: 'Sign in (dev mode)' }).click();
  await page.getByText(`Signed in as ${userId}`).waitFor();
  await page.locator('[data-link=open]').waitFor();
  return { context, page };
}

/**
 * Runs a test body; when it fails, saves a screenshot of every page it names (to FAILURE_DIR,
 * named after the test and the page) before rethrowing.
 */
export async function withScreenshots(name: string, pages: () => Record<string, Page | undefined>, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    mkdirSync(FAILURE_DIR, { recursive: true });
    const slug = name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60);
    for (const [who, page] of Object.entries(pages())) {
      if (!page || page.isClosed()) continue;
      const path = join(FAILURE_DIR, `${slug}-${who}.png`);
      await page.screenshot({ path, fullPage: true }).catch(() => undefined);
      console.error(`screenshot of ${who}: ${path}`);
    }
    throw err;
  }
}
