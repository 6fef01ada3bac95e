/** Pure helpers that keep the lists of reports and of the state document short. */

/** The first `limit` of `items`. */
export function firstOf<T>(items: readonly T[], limit: number): T[] {
  return items.slice(0, limit);
}

/** The first `limit` lines, and one that counts the rest. */
export function firstLines(lines: readonly string[], limit: number): string[] {
  return lines.length <= limit ? [...lines] : [...lines.slice(0, limit), `… and ${lines.length - limit} more`];
}

/** `items` with those that `first` selects ahead of the others, order kept otherwise, cut to `limit`. */
export function firstOfSelectedFirst<T>(items: readonly T[], first: (item: T) => boolean, limit: number): T[] {
  return [...items.filter(first), ...items.filter((item) => !first(item))].slice(0, limit);
}
