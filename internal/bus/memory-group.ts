import type { BusRecord } from './bus';
import type { DeliveryContext, Dispatch } from './bus-delivery';

/** One virtual partition: the unit of per-key order and of assignment to a member. */
interface Partition {
  /** Unacknowledged records, oldest first; the head is the next to handle. */
  pending: BusRecord[];
  owner?: GroupMember;
  /** The member handling the head records right now; the partition waits for it even if reassigned. */
  inFlight?: GroupMember;
}

/**
 * A consumer group of the MemoryBus, Kafka's semantics in-process: records are spread over
 * partitions by key, each partition is owned by one member (round robin over members in join
 * order), and a record leaves its partition only once a member's handler resolved for it (or it
 * was parked). A member takes up to its batch size of records from the head of a partition at
 * once; one that leaves mid-batch leaves them at the head for the next owner, so delivery is
 * at-least-once. The group keeps its records while it has no member.
 */
export class MemoryGroup {
  private readonly partitions: Partition[];
  private members: GroupMember[] = [];

  constructor(partitionCount: number, backlog: readonly BusRecord[] = []) {
    this.partitions = Array.from({ length: Math.max(1, partitionCount) }, () => ({ pending: [] }));
    for (const record of backlog) this.push(record);
  }

  push(record: BusRecord): void {
    const partition = this.partitions[partitionOf(record.key, this.partitions.length)];
    partition.pending.push(record);
    partition.owner?.wake();
  }

  join(dispatch: Dispatch, ctx: DeliveryContext): GroupMember {
    const member = new GroupMember(this, dispatch, ctx);
    this.members.push(member);
    this.rebalance();
    return member;
  }

  leave(member: GroupMember): void {
    member.stopped = true;
    this.members = this.members.filter((m) => m !== member);
    for (const p of this.partitions) if (p.inFlight === member) p.inFlight = undefined;
    this.rebalance();
  }

  /**
   * The next records (up to `max`, from the head) for `member` from a partition it owns and
   * nobody is handling; claims them.
   */
  claim(member: GroupMember, max: number): { partition: Partition; records: BusRecord[] } | undefined {
    const n = this.partitions.length;
    for (let i = 0; i < n; i++) {
      const index = (member.cursor + i) % n;
      const partition = this.partitions[index];
      if (partition.owner !== member || partition.inFlight || partition.pending.length === 0) continue;
      partition.inFlight = member;
      member.cursor = index + 1; // round robin, so one busy partition does not starve the others
      return { partition, records: partition.pending.slice(0, max) };
    }
    return undefined;
  }

  /**
   * Ends `member`'s claim on `records` at the head of `partition`, removing the first
   * `acknowledged` of them. A member that left meanwhile still acknowledges what its handler
   * finished, unless another member has taken the records over (then they are handled again).
   */
  settle(member: GroupMember, partition: Partition, records: readonly BusRecord[], acknowledged: number): void {
    if (partition.inFlight === member) partition.inFlight = undefined;
    else if (partition.inFlight !== undefined || partition.pending[0] !== records[0]) return;
    partition.pending.splice(0, acknowledged);
    partition.owner?.wake();
  }

  private rebalance(): void {
    const n = this.members.length;
    this.partitions.forEach((p, i) => (p.owner = n > 0 ? this.members[i % n] : undefined));
    for (const m of this.members) m.wake();
  }
}

class GroupMember {
  cursor = 0;
  stopped = false;
  private running = false;

  constructor(
    private readonly group: MemoryGroup,
    private readonly dispatch: Dispatch,
    private readonly ctx: DeliveryContext,
  ) {}

  wake(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    queueMicrotask(() => void this.drain());
  }

  private async drain(): Promise<void> {
    try {
      while (!this.stopped) {
        const next = this.group.claim(this, this.dispatch.maxBatch);
        if (!next) break;
        const acknowledged = await this.dispatch.run(next.records, this.ctx);
        this.group.settle(this, next.partition, next.records, acknowledged);
      }
    } finally {
      this.running = false;
    }
  }
}

/** FNV-1a over the key's UTF-16 code units: stable, cheap, spreads short ids well. */
export function partitionOf(key: string, count: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % count;
}
