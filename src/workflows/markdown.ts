/** Characters that mean something in markdown, escaped wherever a name reaches the Web UI. */
const MARKDOWN_SPECIAL = /[\\`*_[\]<>|~#]/g;

/** `text` as markdown that renders as `text` (pure: the API's run summaries and the workflow's own use it). */
export function markdownText(text: string): string {
  return text.replace(MARKDOWN_SPECIAL, '\\$&');
}

/** How many names a one-line summary shows before it counts the rest. */
const NAMED_IN_SUMMARY = 3;

/**
 * The first few of `names`, and how many more: `shop, logs and 4 more`. As they are: activity
 * summaries show as plain text in the Web UI (2.42); escape names for a markdown field first.
 */
export function namedList(names: readonly string[]): string {
  const named = names.slice(0, NAMED_IN_SUMMARY).join(', ');
  return names.length > NAMED_IN_SUMMARY ? `${named} and ${names.length - NAMED_IN_SUMMARY} more` : named;
}
