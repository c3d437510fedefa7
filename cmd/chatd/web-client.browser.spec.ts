import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { dmConversationId } from '../../internal/conversation/conversation-id';
import { waitUntil } from '../../internal/testing/wait-until';
import { launchChromium, signedInPage, withScreenshots } from './testing/browser';
import { TestChatd } from './testing/chatd-harness';

/**
 * The web client in real Chromium against a real chatd (embedded adapters), as people use it:
 * two people chat, a third joins a group, history scrolls, reloads and server restarts.
 * Needs `make web` (the bundle) and Chromium (`make browser`); `make test-browser` runs it. With
 * CHAT_WEB_SCREENSHOT=<path> it also saves a screenshot of the main view there (docs/web-client.png).
 */
describe('web client in Chromium', () => {
  let chatd: TestChatd;
  let browser: Browser;
  let dataDir: string;
  const contexts: BrowserContext[] = [];
  const pages: Record<string, Page | undefined> = {};
  const open = async (userId: string, viewport?: { width: number; height: number }) => {
    const { context, page } = await signedInPage(browser, chatd.httpUrl, userId, viewport);
    contexts.push(context);
    pages[userId] = page;
    return page;
  };
  const test = (name: string, body: () => Promise<void>): void => void it(name, () => withScreenshots(name, () => pages, body));

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'chatd-web-'));
    [chatd, browser] = await Promise.all([TestChatd.start({ dataDir, sendRatePerSec: '1000', sendBurst: '1000' }), launchChromium()]);
  });
  after(async () => {
    await browser?.close();
    await chatd?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('two people chat 1:1 and see typing, delivered and read marks, and presence', async () => {
    const alice = await open('alice');
    const bob = await open('bob');
    await alice.getByLabel('User id to message').fill('bob');
    await alice.getByRole('button', { name: 'Message', exact: true }).click();
    await alice.getByRole('heading', { name: 'bob' }).waitFor();
    await alice.getByLabel('Message to bob').fill('hi bob');
    await alice.keyboard.press('Enter');

    // Bob is online on the list: his page receives and acknowledges it, so alice sees "Delivered".
    const mine = alice.locator('article.message.mine', { hasText: 'hi bob' });
    await mine.locator('[data-mark=delivered]').waitFor();
    const bobItem = bob.locator('[data-conversation="dm:alice:bob"]');
    await bobItem.locator('[data-unread="1"]').waitFor();
    await bobItem.click();
    await bob.locator('article.message', { hasText: 'hi bob' }).waitFor();
    await mine.locator('[data-mark=read]').waitFor();
    assert.equal(await bobItem.locator('.badge').count(), 0, 'reading clears the unread count');

    await bob.getByLabel('Message to alice').pressSequentially('hello al', { delay: 20 });
    await alice.getByText('bob is typing…').waitFor();
    await bob.keyboard.press('Enter');
    await alice.locator('article.message', { hasText: 'hello al' }).waitFor();
    await alice.getByText('bob is typing…').waitFor({ state: 'hidden' });

    await alice.locator('[data-presence=bob]', { hasText: 'online' }).waitFor();
    await pages.bob?.context().close();
    await alice.locator('[data-presence=bob]', { hasText: /last seen/ }).waitFor();
  });

  test('a third person joins a group and reads what was said before', async () => {
    const alice = pages.alice!;
    await alice.getByText('New group').click();
    await alice.getByLabel('Group name').fill('team');
    await alice.getByLabel('Members (user ids, comma-separated)').fill('bob');
    await alice.getByRole('button', { name: 'Create group' }).click();
    await alice.getByRole('heading', { name: 'team' }).waitFor();
    await alice.getByLabel('Message to team').fill('welcome to the team');
    await alice.keyboard.press('Enter');
    await alice.locator('article.message.mine', { hasText: 'welcome to the team' }).locator('[data-mark=sent]').waitFor();

    await alice.getByRole('button', { name: 'Members' }).click();
    await alice.getByLabel('User ids to add').fill('carol');
    await alice.getByRole('button', { name: 'Add', exact: true }).click();
    await alice.getByRole('region', { name: 'Group members' }).getByText('carol').waitFor();

    const carol = await open('carol');
    await carol.locator('[data-conversation^="g:"]', { hasText: 'team' }).click();
    await carol.locator('article.message', { hasText: 'welcome to the team' }).waitFor();
    await carol.getByLabel('Message to team').fill('hi all, carol here');
    await carol.keyboard.press('Enter');
    await alice.locator('article.message', { hasText: 'carol here' }).waitFor();
    await alice.locator('article.message.mine', { hasText: 'welcome to the team' }).getByLabel('Read by 1 of 2').waitFor();
  });

  test('scrolling up loads older pages of history', async () => {
    const dave = await chatd.connect('dave');
    const conv = dmConversationId('alice', 'dave');
    for (let i = 0; i < 75; i++) await dave.send(conv, `old ${i}`);
    await dave.close();
    const alice = pages.alice!;
    await alice.locator(`[data-conversation="${conv}"]`).click();
    await alice.locator('article.message', { hasText: 'old 74' }).waitFor();
    const messages = alice.locator('.messages article.message');
    assert.equal(await messages.count(), 30, 'the first page');
    // One scroll to the top, then wait for what it loads: scrolling again before the count is read
    // can load the next page too, and the count in between is never seen.
    const counts = [30];
    while (counts.at(-1)! < 75 && counts.length < 5) {
      await alice.evaluate("document.querySelector('.messages').scrollTop = 0");
      const shown = counts.at(-1)!;
      await waitUntil(async () => (await messages.count()) > shown, 5_000, `an older page after ${shown} messages`);
      counts.push(await messages.count());
    }
    assert.deepEqual(counts, [30, 60, 75], 'pages of 30 loaded one at a time');
    await alice.locator('article.message', { hasText: /^old 0/ }).first().waitFor();
    await alice.getByText('This is the start of the conversation.').waitFor();
  });

  test('a reload keeps the user signed in with the same conversation open', async () => {
    const alice = pages.alice!;
    await alice.reload();
    await alice.getByRole('heading', { name: 'dave' }).waitFor();
    await alice.locator('article.message', { hasText: 'old 74' }).waitFor();
    await alice.locator('[data-link=open]').waitFor();
  });

  test('at phone width the list and the conversation take turns, with a way back', async () => {
    const erin = await open('erin', { width: 390, height: 780 });
    const list = erin.getByRole('navigation', { name: 'Conversations' });
    await erin.getByLabel('User id to message').fill('alice');
    await erin.keyboard.press('Enter');
    await erin.getByRole('heading', { name: 'alice' }).waitFor();
    assert.equal(await list.isVisible(), false, 'the list gives way to the conversation');
    await erin.getByLabel('Message to alice').fill('hello from my phone');
    await erin.keyboard.press('Enter');
    await erin.locator('article.message.mine', { hasText: 'hello from my phone' }).locator('[data-mark]').waitFor();
    await erin.getByRole('button', { name: 'Back to the conversation list' }).click();
    await list.waitFor();
    await list.locator('[data-conversation="dm:alice:erin"]', { hasText: 'hello from my phone' }).waitFor();
  });

  test('the page reconnects after a server restart and shows what was sent meanwhile', async () => {
    const alice = pages.alice!;
    await alice.locator('[data-conversation="dm:alice:bob"]').click();
    await alice.locator('article.message', { hasText: 'hello al' }).waitFor();
    const port = new URL(chatd.httpUrl).port;
    await chatd.stop();
    await alice.locator('[data-link=waiting]').waitFor();
    await alice.getByText(/Disconnected/).waitFor();
    chatd = await TestChatd.start({ dataDir, httpPort: port, sendRatePerSec: '1000', sendBurst: '1000' });
    const bob = await chatd.connect('bob', { deviceId: 'phone' });
    await bob.send(dmConversationId('alice', 'bob'), 'sent while you were away');
    await bob.close();
    await alice.locator('article.message', { hasText: 'sent while you were away' }).waitFor({ timeout: 20_000 });
    await alice.locator('[data-link=open]').waitFor();
    const screenshot = process.env.CHAT_WEB_SCREENSHOT;
    if (screenshot) {
      // The README's picture: an unread group message and bob typing, on a live page.
      const carol = await chatd.connect('carol', { deviceId: 'shot' });
      const team = alice.locator('[data-conversation^="g:"]');
      const teamId = (await team.getAttribute('data-conversation'))!;
      await carol.send(teamId, 'shipping the web client today');
      await team.locator('[data-unread="1"]').waitFor();
      const bobAgain = await chatd.connect('bob', { deviceId: 'shot' });
      bobAgain.typing(dmConversationId('alice', 'bob'));
      await alice.getByText('bob is typing…').waitFor();
      await alice.screenshot({ path: screenshot });
      await Promise.all([carol.close(), bobAgain.close()]);
    }
  });
});
