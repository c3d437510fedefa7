import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import type { DocPage } from './render-api-docs';

const GENERATED = '<!-- Generated from ';

/**
 * Writes `pages` under `outDir` and deletes the generated pages it no longer produces (a removed
 * .proto file). Only files that start with the generated header are ever deleted; a file whose
 * content is unchanged is not rewritten. Returns the paths written or deleted.
 */
export function writePages(outDir: string, pages: readonly DocPage[]): string[] {
  const changed: string[] = [];
  const wanted = new Set(pages.map((p) => p.path));
  for (const file of listMarkdown(outDir)) {
    const rel = relative(outDir, file).split(sep).join('/');
    if (!wanted.has(rel) && readFileSync(file, 'utf8').startsWith(GENERATED)) {
      rmSync(file);
      changed.push(rel);
    }
  }
  for (const page of pages) {
    const file = join(outDir, ...page.path.split('/'));
    let current: string | undefined;
    try {
      current = readFileSync(file, 'utf8');
    } catch {
      current = undefined;
    }
    if (current === page.content) continue;
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, page.content);
    changed.push(page.path);
  }
  return changed;
}

function listMarkdown(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => (e.isDirectory() ? listMarkdown(join(dir, e.name)) : e.name.endsWith('.md') ? [join(dir, e.name)] : []));
}
