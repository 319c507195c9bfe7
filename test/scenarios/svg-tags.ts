/**
 * A small start-tag reader for the scenario tests: every element of an SVG document with its
 * attributes and classes, so the tests find the drop, the crash, the duplicate, the corruption
 * as elements (classes and data attributes documented in src/viz/svg.ts), not as pixels.
 *
 * Guarantees: finds every start tag `<name attr="…" …>` in document order; attribute values are
 * unescaped for &amp; &lt; &gt; &quot; &#39;.
 * Assumes: attributes are double-quoted (what src/viz writes).
 */

export interface Tag {
  readonly name: string;
  readonly attrs: ReadonlyMap<string, string>;
  readonly classes: ReadonlySet<string>;
}

function unescape(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

export function tags(doc: string): Tag[] {
  const out: Tag[] = [];
  const re = /<([a-zA-Z][\w-]*)((?:\s+[\w:-]+="[^"]*")*)\s*\/?>/g;
  for (let m = re.exec(doc); m !== null; m = re.exec(doc)) {
    const attrs = new Map<string, string>();
    const are = /([\w:-]+)="([^"]*)"/g;
    const raw = m[2] ?? '';
    for (let a = are.exec(raw); a !== null; a = are.exec(raw))
      attrs.set(a[1] ?? '', unescape(a[2] ?? ''));
    out.push({
      name: m[1] ?? '',
      attrs,
      classes: new Set((attrs.get('class') ?? '').split(/\s+/).filter((c) => c !== '')),
    });
  }
  return out;
}

/** Tags having every one of the given classes and every given attribute value. */
export function find(
  all: readonly Tag[],
  classes: readonly string[],
  attrs: Readonly<Record<string, string>> = {},
): Tag[] {
  return all.filter(
    (t) =>
      classes.every((c) => t.classes.has(c)) &&
      Object.entries(attrs).every(([k, v]) => t.attrs.get(k) === v),
  );
}
