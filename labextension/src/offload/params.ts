/**
 * The notebook's parameters, papermill's way: the assignments `name = literal`
 * of the first code cell tagged `parameters`, as JSON values the server injects.
 */

export interface IParameter {
  name: string;
  /** The literal as written in the cell (what the dialog prefills). */
  text: string;
  value: unknown;
}

export class LiteralError extends Error {}

const ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)\s*(?::[^=]+)?=\s*(.+?)\s*$/;

/** The code before a `#` comment that is outside any string. */
function stripComment(line: string): string {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quote) {
      if (ch === '\\') {
        i++;
      } else if (ch === quote) {
        quote = null;
      }
    } else if (ch === '"' || ch === "'") {
      quote = ch;
    } else if (ch === '#') {
      return line.slice(0, i);
    }
  }
  return line;
}

/** Turn a Python literal (numbers, strings, True/False/None, lists, dicts) into JSON text. */
function toJsonText(literal: string): string {
  let out = '';
  let i = 0;
  while (i < literal.length) {
    const ch = literal[i];
    if (ch === '"' || ch === "'") {
      let j = i + 1;
      let body = '';
      while (j < literal.length && literal[j] !== ch) {
        if (literal[j] === '\\' && j + 1 < literal.length) {
          const next = literal[j + 1];
          body += next === "'" ? "'" : '\\' + next;
          j += 2;
        } else {
          body += literal[j] === '"' ? '\\"' : literal[j];
          j++;
        }
      }
      if (j >= literal.length) {
        throw new LiteralError('a string is not closed');
      }
      out += `"${body}"`;
      i = j + 1;
      continue;
    }
    const number = /^\d[\d_]*(\.\d*)?([eE][+-]?\d+)?/.exec(literal.slice(i));
    if (number) {
      const digits = number[0].replace(/_/g, '');
      out += digits.endsWith('.') ? digits + '0' : digits;
      i += number[0].length;
      continue;
    }
    const word = /^[A-Za-z_]+/.exec(literal.slice(i));
    if (word) {
      const map: Record<string, string> = { True: 'true', False: 'false', None: 'null' };
      if (!(word[0] in map)) {
        throw new LiteralError(`${word[0]} is not a literal`);
      }
      out += map[word[0]];
      i += word[0].length;
      continue;
    }
    out += ch === '(' ? '[' : ch === ')' ? ']' : ch;
    i++;
  }
  // Python allows a trailing comma; JSON does not.
  return out.replace(/,\s*([\]}])/g, '$1');
}

/** The JSON value of a Python literal; LiteralError with a reason otherwise. */
export function parseLiteral(text: string): unknown {
  const trimmed = text.trim();
  if (!trimmed) {
    throw new LiteralError('it is empty');
  }
  try {
    return JSON.parse(toJsonText(trimmed));
  } catch (error) {
    if (error instanceof LiteralError) {
      throw error;
    }
    throw new LiteralError(`${trimmed} is not a Python literal`);
  }
}

interface ICellLike {
  cell_type: string;
  source: string;
  tags: readonly string[];
}

/** The parameters of the first code cell tagged `parameters` (none when there is none). */
export function readParameters(cells: readonly ICellLike[]): IParameter[] {
  const cell = cells.find(c => c.cell_type === 'code' && c.tags.includes('parameters'));
  if (!cell) {
    return [];
  }
  const found = new Map<string, IParameter>();
  for (const raw of cell.source.split('\n')) {
    const line = stripComment(raw);
    if (/^\s/.test(line)) {
      continue; // inside a block or a continuation: not a top-level assignment
    }
    const match = ASSIGNMENT.exec(line);
    if (!match) {
      continue;
    }
    const [, name, text] = match;
    try {
      found.set(name, { name, text, value: parseLiteral(text) });
    } catch {
      // An expression, not a literal: the server could not inject it either.
    }
  }
  return [...found.values()];
}
