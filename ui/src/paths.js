// Where a 422's `details` path (`/healthChecks(0)/portIndex`) is in a JSON text.
import { parseTree, findNodeAtLocation } from 'jsonc-parser';

/** `/healthChecks(0)/portIndex` -> `['healthChecks', 0, 'portIndex']`. */
export function splitPath(path) {
  const out = [];
  for (const segment of path.split('/')) {
    if (!segment) continue;
    const m = /^([^()]*)((?:\(\d+\))*)$/.exec(segment);
    if (!m) { out.push(segment); continue; }
    if (m[1]) out.push(m[1]);
    for (const idx of m[2].matchAll(/\((\d+)\)/g)) out.push(Number(idx[1]));
  }
  return out;
}

/** Where a path's field is in `text`: the range to mark (its key, or its value) or null. */
export function locate(text, path) {
  const root = parseTree(text);
  if (!root) return null;
  let segments = splitPath(path);
  while (segments.length) {
    const node = findNodeAtLocation(root, segments);
    if (node) {
      const property = node.parent && node.parent.type === 'property' ? node.parent : null;
      const target = property ? property.children[0] : node;
      return { from: target.offset, to: target.offset + target.length, exact: segments.length === splitPath(path).length };
    }
    segments = segments.slice(0, -1); // a missing field: mark its parent
  }
  return null;
}
