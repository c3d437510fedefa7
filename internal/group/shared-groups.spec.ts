import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { usersSharingAGroup } from './shared-groups';

function directory(groups: Record<string, string[]>) {
  const asked: string[] = [];
  return {
    asked,
    groupIdsOf: async (u: string) => {
      asked.push(u);
      return Promise.resolve(groups[u] ?? []);
    },
  };
}

describe('usersSharingAGroup', () => {
  it('names the others in a group with the viewer', async () => {
    const d = directory({ ann: ['1', '2'], bob: ['2'], cat: ['3'], dan: ['1', '3'] });
    assert.deepEqual([...(await usersSharingAGroup(d.groupIdsOf, 'ann', ['bob', 'cat', 'dan', 'eve']))].sort(), ['bob', 'dan']);
  });

  it("reads only the viewer's groups when the viewer is in none", async () => {
    const d = directory({ bob: ['2'] });
    assert.equal((await usersSharingAGroup(d.groupIdsOf, 'ann', ['bob', 'cat'])).size, 0);
    assert.deepEqual(d.asked, ['ann']);
  });

  it('reads nothing for no others', async () => {
    const d = directory({});
    assert.equal((await usersSharingAGroup(d.groupIdsOf, 'ann', [])).size, 0);
    assert.deepEqual(d.asked, []);
  });
});
