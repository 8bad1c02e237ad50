/**
 * True when a parsed JSON value nests deeper than `max` objects/arrays. Iterative, so measuring a hostile file cannot
 * itself overflow the stack; callers refuse such a file before any recursive walk (digests, comparisons) sees it.
 */
export function depthOver(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    if (d > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v))
      if (child !== null && typeof child === "object") stack.push([child, d + 1]);
  }
  return false;
}
