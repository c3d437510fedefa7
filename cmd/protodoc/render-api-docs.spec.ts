import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema, type FileDescriptorSet } from '@bufbuild/protobuf/wkt';
import { buildDescriptorSet } from './build-descriptor-set';
import { escapeHtml, renderApiDocs, slug, type DocPage } from './render-api-docs';
import { writePages } from './write-pages';

const OPTS = { protoRoot: 'proto/', regenerate: 'make gen' };

function page(pages: DocPage[], path: string): string {
  const found = pages.find((p) => p.path === path);
  assert.ok(found, `no page ${path} in ${pages.map((p) => p.path).join(', ')}`);
  return found.content;
}

/** The text between a `## heading` line and the next `## ` heading. */
function section(content: string, heading: string): string {
  const start = content.indexOf(`\n## ${heading}\n`);
  assert.notEqual(start, -1, `no section ${heading}`);
  const end = content.indexOf('\n## ', start + 1);
  return content.slice(start + 1, end === -1 ? undefined : end);
}

describe('protodoc', () => {
  // A fixture module with every construct the generator renders (testdata/acme/shop/v1).
  let fixture: FileDescriptorSet;
  let pages: DocPage[];
  before(() => {
    fixture = buildDescriptorSet(join(__dirname, 'testdata'));
    pages = renderApiDocs(fixture, OPTS);
  });

  it('writes an index and one page per .proto file, named after it', () => {
    assert.deepEqual(pages.map((p) => p.path), ['README.md', 'acme/shop/v1/common.md', 'acme/shop/v1/shop.md']);
    for (const p of pages) assert.match(p.content, /^<!-- Generated from proto\/\S* by `make gen` \(cmd\/protodoc\)\. Do not edit\. -->\n/);
    const index = page(pages, 'README.md');
    assert.match(index, /\| \[acme\/shop\/v1\/shop\.proto\]\(acme\/shop\/v1\/shop\.md\) \| `acme\.shop\.v1` \| \[ShopService\]\(acme\/shop\/v1\/shop\.md#shopservice\) \| 4 \| 0 \|/);
    assert.match(index, /- \[`Buy`\]\(acme\/shop\/v1\/shop\.md#shopservicebuy\): Buy one item\.\n/);
  });

  it('documents services and RPCs with their comments, streaming and idempotency', () => {
    const shop = page(pages, 'acme/shop/v1/shop.md');
    assert.equal(
      section(shop, 'ShopService'),
      [
        '## ShopService',
        '',
        'ShopService sells things.',
        '',
        'A second paragraph, with `code` and a | pipe.',
        '',
        '### ShopService.Buy',
        '',
        'Request: [BuyRequest](#buyrequest) · Response: [BuyResponse](#buyresponse) · Declared idempotent',
        '',
        'Buy one item. Idempotent by `order_id`.\nErrors: NOT_FOUND.',
        '',
        '### ShopService.WatchPrices',
        '',
        'Request: stream [WatchPricesRequest](#watchpricesrequest) · Response: stream [Price](#price)',
        '',
        'Watch prices as they change.',
        '',
      ].join('\n'),
    );
  });

  it('documents fields with JSON names, numbers, linked types, oneofs, maps, optional and deprecated', () => {
    const rows = section(page(pages, 'acme/shop/v1/shop.md'), 'BuyRequest').split('\n').filter((l) => l.startsWith('| `'));
    assert.deepEqual(rows, [
      '| `order_id` | `orderId` | 1 | string | Client-chosen key; a retry with the same key \\| buys once. |',
      '| `quantity` | `quantity` | 2 | optional uint32 | How many. |',
      '| `labels` | `labels` | 3 | map&lt;string, uint64&gt; | Labels by key. |',
      '| `mail` | `mail` | 4 | [BuyRequest.Address](#buyrequestaddress) | One of `destination`. By mail. |',
      '| `store_id` | `storeId` | 5 | string | One of `destination`. Picked up in a store. |',
      '| `colors` | `colors` | 6 | repeated [Color](common.md#color) |  |',
      '| `not_after` | `notAfter` | 7 | [google.protobuf.Timestamp](https://protobuf.dev/reference/protobuf/google.protobuf/#timestamp) |  |',
      '| `legacy` | `legacy` | 8 | int32 | **Deprecated.** |',
    ]);
    assert.ok(!page(pages, 'acme/shop/v1/shop.md').includes('LabelsEntry'), 'map entries are not documented as messages');
  });

  it('documents nested messages and enums, and enum values with leading or trailing comments', () => {
    const shop = page(pages, 'acme/shop/v1/shop.md');
    assert.match(section(shop, 'BuyRequest.Address'), /Address is a postal address\./);
    assert.match(section(shop, 'BuyResponse.State'), /\| `STATE_PAID` \| 1 \| Paid\. \|/);
    assert.match(section(shop, 'BuyResponse'), /\| `state` \| `state` \| 2 \| \[BuyResponse\.State\]\(#buyresponsestate\) \|/);
    assert.match(section(page(pages, 'acme/shop/v1/common.md'), 'Color'), /\| `COLOR_RED` \| 1 \| Trailing comment: red\. \|/);
    assert.match(section(shop, 'WatchPricesRequest'), /No fields\./);
  });

  it('renders the same bytes whatever order the files come in', () => {
    const reversed = create(FileDescriptorSetSchema, { file: [...fixture.file].reverse() });
    assert.deepEqual(renderApiDocs(reversed, OPTS), pages);
  });

  it('keeps angle brackets in comments as text, except in code spans', () => {
    assert.equal(escapeHtml('"dm:<a>:<b>" or `Bearer <jwt>`'), '"dm:&lt;a&gt;:&lt;b&gt;" or `Bearer <jwt>`');
    assert.equal(slug('GatewayService.Connect'), 'gatewayserviceconnect');
    assert.equal(slug('BuyResponse.State'), 'buyresponsestate');
  });

  it('links only to pages and headings that exist, on the real contracts in proto/', () => {
    const real = renderApiDocs(buildDescriptorSet(join(__dirname, '..', '..')), OPTS);
    assert.ok(real.some((p) => p.path === 'chat/v1/gateway.md'));
    const anchors = new Map(real.map((p) => [p.path, new Set([...p.content.matchAll(/^#{1,3} (.+)$/gm)].map((m) => slug(m[1])))]));
    for (const p of real) {
      for (const [, target] of p.content.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (target.startsWith('https://')) continue;
        const [file, anchor] = target.split('#');
        const resolved = file ? posix.join(posix.dirname(p.path), file) : p.path;
        assert.ok(anchors.has(resolved), `${p.path} links to a missing page ${target}`);
        if (anchor) assert.ok(anchors.get(resolved)!.has(anchor), `${p.path} links to a missing heading ${target}`);
      }
    }
  });

  it('writes changed pages, leaves unchanged ones, deletes stale generated pages and keeps hand-written ones', () => {
    const dir = mkdtempSync(join(tmpdir(), 'protodoc-'));
    try {
      assert.deepEqual(writePages(dir, pages), ['README.md', 'acme/shop/v1/common.md', 'acme/shop/v1/shop.md']);
      assert.deepEqual(writePages(dir, pages), []);
      writeFileSync(join(dir, 'notes.md'), '# hand-written\n');
      const fewer = pages.filter((p) => p.path !== 'acme/shop/v1/common.md');
      assert.deepEqual(writePages(dir, fewer), ['acme/shop/v1/common.md']);
      assert.ok(!existsSync(join(dir, 'acme/shop/v1/common.md')));
      assert.equal(readFileSync(join(dir, 'notes.md'), 'utf8'), '# hand-written\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
