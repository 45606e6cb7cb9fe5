/**
 * The guides stay true to the repository: a code block that names an example file
 * (```js examples/x.mjs) is that file, word for word (the file itself is run by a test), and
 * every relative link points at a file that exists.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const guides = [
  'README.md',
  'CHANGELOG.md',
  'examples/README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

describe.each(guides)('%s', (guide) => {
  const text = readFileSync(join(ROOT, guide), 'utf8');

  test('code blocks that name an example file are that file', () => {
    const blocks = [...text.matchAll(/^```\w+ (examples\/\S+)\n([\s\S]*?)^```$/gm)];
    for (const [, file, body] of blocks) {
      expect(body, `${guide}: the block of ${file}`).toBe(readFileSync(join(ROOT, file!), 'utf8'));
    }
  });

  test('relative links point at files that exist', () => {
    const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)]
      .map(([, target]) => target!)
      .filter((target) => !/^(https?:|mailto:|#)/.test(target));
    const missing = links.filter((target) => {
      const path = join(ROOT, dirname(guide), target.replace(/#.*$/, ''));
      return !existsSync(path);
    });
    expect(missing.map((target) => relative(ROOT, join(dirname(guide), target)))).toEqual([]);
  });
});

test('the guides name their example files', () => {
  const named = guides.flatMap((guide) =>
    [...readFileSync(join(ROOT, guide), 'utf8').matchAll(/^```\w+ (examples\/\S+)$/gm)].map(
      ([, file]) => file,
    ),
  );
  expect(named).toEqual(
    expect.arrayContaining([
      'examples/custom-backend/map-record-store.mjs',
      'examples/custom-backend/map-record-store.test.mjs',
      'examples/testing/fake-clock.test.mjs',
    ]),
  );
});
