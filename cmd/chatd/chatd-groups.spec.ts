import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MemberRole } from '../../gen/chat/v1/group';
import { TestChatd } from './testing/chatd-harness';

describe('chatd groups', () => {
  let chatd: TestChatd;
  before(async () => (chatd = await TestChatd.start({ sendRatePerSec: '1000', sendBurst: '1000' })));
  after(async () => chatd.stop());

  it('creates a group with the creator as admin and fans a send out to every member device', async () => {
    const api = await chatd.api('g-ann');
    const group = await api.createGroup('team', ['g-ben', 'g-cat', 'g-ben']);
    assert.equal(group.memberCount, 3);
    assert.equal(group.conversationId, `g:${group.groupId}`);
    const members = await api.listMembers(group.groupId);
    assert.deepEqual(members.map((m) => [m.userId, m.role]), [
      ['g-ann', MemberRole.MEMBER_ROLE_ADMIN],
      ['g-ben', MemberRole.MEMBER_ROLE_MEMBER],
      ['g-cat', MemberRole.MEMBER_ROLE_MEMBER],
    ]);
    const ann = await chatd.connect('g-ann');
    const ben1 = await chatd.connect('g-ben', { deviceId: 'b1' });
    const ben2 = await chatd.connect('g-ben', { deviceId: 'b2', format: 'json' });
    const cat = await chatd.connect('g-cat');
    const outsider = await chatd.connect('g-out');
    const ack = await ann.send(group.conversationId, 'hello team');
    for (const c of [ben1, ben2, cat]) assert.equal((await c.waitForMessage((m) => m.messageId === ack.messageId)).text, 'hello team');

    await assert.rejects(outsider.send(group.conversationId, 'let me in'), { code: 'ERROR_CODE_PERMISSION_DENIED' });
    await assert.rejects(outsider.history({ conversationId: group.conversationId }), { code: 'ERROR_CODE_PERMISSION_DENIED' });
    const page = await cat.history({ conversationId: group.conversationId });
    assert.deepEqual(page.messages.map((m) => m.text), ['hello team'], 'the refused send was not stored');
    assert.deepEqual(outsider.pushedFrames().filter((f) => f.frame?.$case === 'message'), []);
    await Promise.all([ann, ben1, ben2, cat, outsider].map((c) => c.close()));
  });

  it('lets only admins add and remove, lets members leave, and stops delivery to removed members', async () => {
    const admin = await chatd.api('h-adm');
    const member = await chatd.api('h-mem');
    const group = await admin.createGroup('ops', ['h-mem', 'h-old']);
    await assert.rejects(member.addMembers(group.groupId, ['h-new']), { code: 'permission_denied' });
    await assert.rejects(member.removeMembers(group.groupId, ['h-old']), { code: 'permission_denied' });
    assert.equal((await admin.addMembers(group.groupId, ['h-new', 'h-new'])).memberCount, 4);
    assert.equal((await admin.addMembers(group.groupId, ['h-new'])).memberCount, 4, 'adding is idempotent');
    assert.equal((await admin.removeMembers(group.groupId, ['h-old'])).memberCount, 3);
    assert.equal((await member.removeMembers(group.groupId, ['h-mem'])).memberCount, 2, 'a member may leave');
    await assert.rejects(member.getGroup(group.groupId), { code: 'permission_denied' });
    assert.deepEqual((await member.listUserGroups()).map((g) => g.groupId), []);

    const newcomer = await chatd.connect('h-new');
    const old = await chatd.connect('h-old');
    const adm = await chatd.connect('h-adm');
    const ack = await adm.send(group.conversationId, 'after the changes');
    await newcomer.waitForMessage((m) => m.messageId === ack.messageId);
    await assert.rejects(old.send(group.conversationId, 'still here?'), { code: 'ERROR_CODE_PERMISSION_DENIED' });
    assert.deepEqual(old.pushedFrames().filter((f) => f.frame?.$case === 'message'), []);
    await Promise.all([newcomer, old, adm].map((c) => c.close()));
  });

  it('answers get, list members and list my groups newest first; unknown groups are NOT_FOUND', async () => {
    const api = await chatd.api('i-own');
    const first = await api.createGroup('first');
    const second = await api.createGroup('second', ['i-two']);
    assert.deepEqual((await api.listUserGroups()).map((g) => g.name), ['second', 'first']);
    assert.equal((await api.getGroup(first.groupId)).name, 'first');
    assert.deepEqual((await (await chatd.api('i-two')).listUserGroups()).map((g) => g.groupId), [second.groupId]);
    await assert.rejects(api.getGroup('123456789'), { code: 'not_found' });
    await assert.rejects(api.getGroup('not-a-number'), { code: 'invalid_argument' });
    await assert.rejects(api.createGroup('   '), { code: 'invalid_argument' });
    await assert.rejects(api.createGroup('x'.repeat(129)), { code: 'invalid_argument' });
  });

  it('holds at most 500 members, refusing the 501st with a clear error and adding nobody', async () => {
    const api = await chatd.api('big-admin');
    const others = Array.from({ length: 499 }, (_, i) => `big-${i}`);
    const group = await api.createGroup('all hands', others);
    assert.equal(group.memberCount, 500);
    await assert.rejects(api.addMembers(group.groupId, ['big-extra', 'big-extra-2']), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'failed_precondition');
      assert.match(err.message, /exceed 500 members/);
      return true;
    });
    assert.equal((await api.getGroup(group.groupId)).memberCount, 500);
    await assert.rejects(api.createGroup('too big', [...others, 'big-extra']), { code: 'failed_precondition' });

    // One send reaches members across the whole group.
    const sender = await chatd.connect('big-admin');
    const receivers = await Promise.all(['big-0', 'big-250', 'big-498'].map((u) => chatd.connect(u)));
    const ack = await sender.send(group.conversationId, 'to everyone');
    await Promise.all(receivers.map((r) => r.waitForMessage((m) => m.messageId === ack.messageId)));
    await Promise.all([sender, ...receivers].map((c) => c.close()));
  });
});
