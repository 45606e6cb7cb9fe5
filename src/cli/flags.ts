/**
 * A small, strict flag parser for the subcommands: `--name value`, `--name=value`, boolean
 * `--name`, `--name=true|false`, `--no-name`, and `--` before a command. Unknown flags, missing
 * values and bad durations are usage errors that name the fix.
 */
import { DurationSyntaxError, parseDuration } from './duration.js';
import { usageError } from './exit-codes.js';

export type FlagKind = 'boolean' | 'string' | 'list' | 'duration' | 'port';

export interface FlagSpec {
  /** Long name without the dashes, e.g. `lease-duration`. */
  readonly name: string;
  readonly kind: FlagKind;
  /** Placeholder for the value in the help, e.g. `DURATION`. */
  readonly value?: string;
  readonly help: string;
  /** The default as shown in the help. */
  readonly defaultText?: string;
}

type FlagValue = string | boolean | number | readonly string[];

/** Parsed flags with typed accessors; `undefined` means "not given". */
export class Flags {
  readonly #values: ReadonlyMap<string, FlagValue>;

  constructor(
    values: ReadonlyMap<string, FlagValue>,
    /** Arguments that are neither flags nor after `--`. */
    readonly positionals: readonly string[],
    /** Everything after `--`, or `null` when there was no `--`. */
    readonly command: readonly string[] | null,
  ) {
    this.#values = values;
  }

  has(name: string): boolean {
    return this.#values.has(name);
  }

  string(name: string): string | undefined {
    const value = this.#values.get(name);
    return typeof value === 'string' ? value : undefined;
  }

  boolean(name: string): boolean | undefined {
    const value = this.#values.get(name);
    return typeof value === 'boolean' ? value : undefined;
  }

  /** Durations in milliseconds; ports as numbers. */
  number(name: string): number | undefined {
    const value = this.#values.get(name);
    return typeof value === 'number' ? value : undefined;
  }

  list(name: string): readonly string[] | undefined {
    const value = this.#values.get(name);
    return Array.isArray(value) ? (value as readonly string[]) : undefined;
  }
}

/** True when `--help` or `-h` appears before `--`. */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const arg of argv) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h' || arg === '--help=true') return true;
  }
  return false;
}

/**
 * Parses `argv` against `specs`.
 * @param command the subcommand, for messages (`run`, `status`...).
 * @throws {CliError} exit code 2 with one line that says what to change.
 */
export function parseFlags(
  argv: readonly string[],
  specs: readonly FlagSpec[],
  command: string,
): Flags {
  const byName = new Map(specs.map((spec) => [spec.name, spec]));
  const values = new Map<string, FlagValue>();
  const positionals: string[] = [];
  let rest: string[] | null = null;
  const helpHint = `run "leader-elect ${command} --help"`;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      rest = argv.slice(i + 1);
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    if (!arg.startsWith('--')) {
      // After a bare word this is most likely the command's own flag: `run sh -c '…'`.
      const afterWord = positionals.length > 0;
      throw usageError(
        afterWord
          ? `unknown flag ${arg} after "${positionals.join(' ')}": put the command and its flags after --, e.g. leader-elect ${command} [options] -- ${[...positionals, arg].join(' ')} …`
          : `unknown flag ${arg}; flags are long (--name), ${helpHint}`,
      );
    }
    const body = arg.slice(2);
    const eq = body.indexOf('=');
    const rawName = eq === -1 ? body : body.slice(0, eq);
    const inline = eq === -1 ? undefined : body.slice(eq + 1);

    let spec = byName.get(rawName);
    let negated = false;
    if (spec === undefined && rawName.startsWith('no-')) {
      const positive = byName.get(rawName.slice(3));
      if (positive?.kind === 'boolean') {
        spec = positive;
        negated = true;
      }
    }
    if (spec === undefined) {
      const suggestion = suggest(rawName, specs);
      const afterWord =
        positionals.length > 0
          ? `; if it is the command's, put the command after --: leader-elect ${command} [options] -- ${positionals.join(' ')} ${arg} …`
          : '';
      throw usageError(
        `unknown flag --${rawName}${suggestion === undefined ? '' : ` (did you mean --${suggestion}?)`}${afterWord}; ${helpHint}`,
      );
    }

    if (spec.kind === 'boolean') {
      if (negated) {
        if (inline !== undefined) {
          throw usageError(`--${rawName} takes no value; use --${spec.name}=${inline} instead`);
        }
        values.set(spec.name, false);
      } else if (inline === undefined) {
        values.set(spec.name, true);
      } else if (inline === 'true' || inline === 'false') {
        values.set(spec.name, inline === 'true');
      } else {
        throw usageError(`--${spec.name} is true or false, got "${inline}"`);
      }
      continue;
    }

    let raw = inline;
    if (raw === undefined) {
      const next = argv[i + 1];
      if (next === undefined || next === '--' || next.startsWith('--')) {
        throw usageError(
          `--${spec.name} needs a value (--${spec.name} ${spec.value ?? 'VALUE'}); ${helpHint}`,
        );
      }
      raw = next;
      i++;
    }
    values.set(spec.name, convert(spec, raw, values.get(spec.name)));
  }
  return new Flags(values, positionals, rest);
}

function convert(spec: FlagSpec, raw: string, previous: FlagValue | undefined): FlagValue {
  switch (spec.kind) {
    case 'string':
      if (raw === '') throw usageError(`--${spec.name} must not be empty`);
      return raw;
    case 'list': {
      const items = raw
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '');
      if (items.length === 0) throw usageError(`--${spec.name} must not be empty`);
      return [...(Array.isArray(previous) ? (previous as readonly string[]) : []), ...items];
    }
    case 'duration':
      try {
        return parseDuration(raw);
      } catch (error) {
        if (!(error instanceof DurationSyntaxError)) throw error;
        throw usageError(
          `invalid duration "${raw}" for --${spec.name}: ${error.message}; write it like 15s, 500ms or 1m30s`,
        );
      }
    case 'port': {
      const port = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
      if (!Number.isInteger(port) || port < 0 || port > 65_535) {
        throw usageError(
          `--${spec.name} must be a port number 0-65535 (0: any free port), got "${raw}"`,
        );
      }
      return port;
    }
    case 'boolean':
      throw new Error('unreachable: booleans are handled by the parser');
  }
}

/** The closest flag name, when it is close enough to be a likely typo. */
function suggest(name: string, specs: readonly FlagSpec[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const spec of specs) {
    const distance = editDistance(name, spec.name);
    if (distance < bestDistance) {
      bestDistance = distance;
      best = spec.name;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 4)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(
        (previous[j] ?? 0) + 1,
        (current[j - 1] ?? 0) + 1,
        (previous[j - 1] ?? 0) + cost,
      );
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** Width the help text is wrapped to. */
const HELP_WIDTH = 100;

/** The flag table of a `--help`: one flag per entry, descriptions wrapped under each other. */
export function formatFlagHelp(specs: readonly FlagSpec[]): string {
  const labels = specs.map((spec) =>
    spec.kind === 'boolean' ? `--${spec.name}` : `--${spec.name} ${spec.value ?? 'VALUE'}`,
  );
  const width = Math.min(28, Math.max(...labels.map((label) => label.length)));
  const indent = ' '.repeat(width + 4);
  return specs
    .map((spec, index) => {
      const label = labels[index] as string;
      const text =
        spec.defaultText === undefined ? spec.help : `${spec.help} (default ${spec.defaultText})`;
      const wrapped = wrap(text, HELP_WIDTH - indent.length);
      const [first = '', ...rest] = wrapped;
      const head =
        label.length > width
          ? `  ${label}\n${indent}${first}`
          : `  ${label.padEnd(width)}  ${first}`;
      return [head, ...rest.map((line) => `${indent}${line}`)].join('\n');
    })
    .join('\n');
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}
