/**
 * The `ENGINE = Name(…)` clause of a CREATE statement, read by tokens (./sql-lexer), and the
 * rebuilding of a statement with some tokens replaced: what the DDL rewrites (renamed databases,
 * ZooKeeper paths) share.
 */
import type { Token } from './sql-lexer';

/** The significant tokens of one engine argument, top-level commas apart. */
export type Argument = Token[];

/** One `ENGINE = Name(…)` of a statement: the engine's name token, its arguments, and the closing parenthesis. */
export interface EngineCall {
  engine: string;
  name: Token;
  args: Argument[];
  /** The `(` and `)` around the arguments. */
  open: Token;
  close: Token | undefined;
}

/** Every `ENGINE = Name(…)` in `tokens` (significant tokens only), with its top-level arguments. */
export function engineCalls(tokens: Token[]): EngineCall[] {
  const found: EngineCall[] = [];
  tokens.forEach((token, i) => {
    const name = tokens[i + 2];
    if (token.text.toUpperCase() !== 'ENGINE' || tokens[i + 1]?.text !== '=' || !name || tokens[i + 3]?.text !== '(') return;
    const args: Argument[] = [[]];
    let depth = 0;
    let close: Token | undefined;
    for (const t of tokens.slice(i + 4)) {
      if (depth === 0 && t.text === ')') {
        close = t;
        break;
      }
      if (t.text === '(') depth++;
      if (t.text === ')') depth--;
      if (depth === 0 && t.text === ',') args.push([]);
      else args[args.length - 1].push(t);
    }
    found.push({ engine: name.text, name, args: args.length === 1 && args[0].length === 0 ? [] : args, open: tokens[i + 3], close });
  });
  return found;
}

/** `text` with each token of `replace` swapped for its new text. */
export function rebuild(text: string, replace: Map<Token, string>): string {
  let out = '';
  let at = 0;
  for (const token of [...replace.keys()].sort((a, b) => a.start - b.start)) {
    out += text.slice(at, token.start) + (replace.get(token) as string);
    at = token.end;
  }
  return out + text.slice(at);
}
