/**
 * Which of `others` have at least one group in common with `viewer` (the group half of the
 * presence visibility rule). The viewer's groups are read once, and the others' only when the
 * viewer is in a group at all: most checks are for users in no group, and cost one read.
 */
export async function usersSharingAGroup(groupIdsOf: (userId: string) => Promise<string[]>, viewer: string, others: readonly string[]): Promise<Set<string>> {
  const sharing = new Set<string>();
  if (others.length === 0) return sharing;
  const mine = new Set(await groupIdsOf(viewer));
  if (mine.size === 0) return sharing;
  const theirs = await Promise.all(others.map((u) => groupIdsOf(u)));
  others.forEach((u, i) => {
    if (theirs[i]?.some((g) => mine.has(g))) sharing.add(u);
  });
  return sharing;
}
