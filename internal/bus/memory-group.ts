import type { BusHandler, BusRecord } from './bus';
import { deliver, type DeliveryContext } from './bus-delivery';

/** One virtual partition: the unit of per-key order and of assignment to a member. */
interface Partition {
  /** Unacknowledged records, oldest first; the head is the next to handle. */
  pending: BusRecord[];
  owner?: GroupMember;
  /** The member handling the head right now; the partition waits for it even if reassigned. */
  inFlight?: GroupMember;
}

/**
 * A consumer group of the MemoryBus, Kafka's semantics in-process: records are spread over
 * partitions by key, each partition is owned by one member (round robin over members in join
 * order), and a record leaves its partition only once a member's handler resolved (or it was
 * parked). A member that leaves mid-record leaves that record at the head for the next owner, so
 * delivery is at-least-once. The group keeps its records while it has no member.
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

  join(handler: BusHandler, ctx: DeliveryContext): GroupMember {
    const member = new GroupMember(this, handler, ctx);
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

  /** The next record for `member` from a partition it owns and nobody is handling; claims it. */
  claim(member: GroupMember): { partition: Partition; record: BusRecord } | undefined {
    const n = this.partitions.length;
    for (let i = 0; i < n; i++) {
      const index = (member.cursor + i) % n;
      const partition = this.partitions[index];
      const record = partition.pending[0];
      if (partition.owner !== member || partition.inFlight || !record) continue;
      partition.inFlight = member;
      member.cursor = index + 1; // round robin, so one busy partition does not starve the others
      return { partition, record };
    }
    return undefined;
  }

  /** Ends `member`'s claim on the head of `partition`, removing it when acknowledged. */
  settle(member: GroupMember, partition: Partition, acknowledged: boolean): void {
    if (partition.inFlight !== member) return; // the member left meanwhile: the record stays
    partition.inFlight = undefined;
    if (acknowledged) partition.pending.shift();
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
    private readonly handler: BusHandler,
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
        const next = this.group.claim(this);
        if (!next) break;
        const outcome = await deliver(next.record, this.handler, this.ctx);
        this.group.settle(this, next.partition, outcome !== 'abandoned');
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
