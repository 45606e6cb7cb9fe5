import { describe, expect, test } from 'vitest';
import { CliError } from '../../src/cli/exit-codes.js';
import { type FlagSpec, formatFlagHelp, parseFlags, wantsHelp } from '../../src/cli/flags.js';

const SPECS: readonly FlagSpec[] = [
  { name: 'json', kind: 'boolean', help: 'json' },
  { name: 'release-on-cancel', kind: 'boolean', help: 'release' },
  { name: 'election', kind: 'string', value: 'NAME', help: 'election' },
  { name: 'endpoints', kind: 'list', value: 'URLS', help: 'endpoints' },
  { name: 'lease-duration', kind: 'duration', value: 'DURATION', help: 'lease' },
  { name: 'health-port', kind: 'port', value: 'PORT', help: 'port' },
];

function usage(argv: readonly string[]): string {
  try {
    parseFlags(argv, SPECS, 'run');
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(2);
    return (error as Error).message;
  }
  throw new Error(`expected a usage error for ${argv.join(' ')}`);
}

describe('parseFlags', () => {
  test('values, both spellings, and the command after --', () => {
    const flags = parseFlags(
      [
        '--election',
        'jobs',
        '--lease-duration=1m30s',
        '--endpoints',
        'a:1,b:2',
        '--endpoints=c:3',
        '--health-port',
        '0',
        '--json',
        '--',
        'cmd',
        '--json',
        '--',
      ],
      SPECS,
      'run',
    );
    expect(flags.string('election')).toBe('jobs');
    expect(flags.number('lease-duration')).toBe(90_000);
    expect(flags.list('endpoints')).toEqual(['a:1', 'b:2', 'c:3']);
    expect(flags.number('health-port')).toBe(0);
    expect(flags.boolean('json')).toBe(true);
    expect(flags.command).toEqual(['cmd', '--json', '--']);
    expect(flags.positionals).toEqual([]);
  });

  test('booleans: --x, --x=true, --x=false, --no-x; absent is undefined', () => {
    expect(parseFlags(['--release-on-cancel'], SPECS, 'run').boolean('release-on-cancel')).toBe(
      true,
    );
    expect(
      parseFlags(['--release-on-cancel=false'], SPECS, 'run').boolean('release-on-cancel'),
    ).toBe(false);
    expect(
      parseFlags(['--release-on-cancel=true'], SPECS, 'run').boolean('release-on-cancel'),
    ).toBe(true);
    expect(parseFlags(['--no-release-on-cancel'], SPECS, 'run').boolean('release-on-cancel')).toBe(
      false,
    );
    expect(parseFlags([], SPECS, 'run').boolean('release-on-cancel')).toBeUndefined();
    expect(parseFlags(['x'], SPECS, 'run').command).toBeNull();
  });

  test('usage errors name the fix', () => {
    expect(usage(['--lease-durration', '1s'])).toBe(
      'unknown flag --lease-durration (did you mean --lease-duration?); run "leader-elect run --help"',
    );
    expect(usage(['--frobnicate'])).toBe(
      'unknown flag --frobnicate; run "leader-elect run --help"',
    );
    expect(usage(['-x'])).toMatch(/^unknown flag -x/);
    expect(usage(['--election'])).toMatch(/^--election needs a value \(--election NAME\)/);
    expect(usage(['--election', '--json'])).toMatch(/^--election needs a value/);
    expect(usage(['--election', '--', 'x'])).toMatch(/^--election needs a value/);
    expect(usage(['--election='])).toBe('--election must not be empty');
    expect(usage(['--lease-duration', '15'])).toMatch(
      /^invalid duration "15" for --lease-duration: missing unit/,
    );
    expect(usage(['--lease-duration', '1h-'])).toMatch(
      /^invalid duration "1h-" for --lease-duration/,
    );
    expect(usage(['--lease-duration=-1s'])).toMatch(/negative/);
    expect(usage(['--lease-duration='])).toMatch(/empty duration/);
    expect(usage(['--json=yes'])).toBe('--json is true or false, got "yes"');
    expect(usage(['--no-json=true'])).toMatch(/^--no-json takes no value/);
    expect(usage(['--no-election'])).toMatch(/^unknown flag --no-election/);
    expect(usage(['--health-port', '65536'])).toMatch(/port number/);
    expect(usage(['--health-port', '8x'])).toMatch(/port number/);
    expect(usage(['--endpoints', ','])).toBe('--endpoints must not be empty');
  });

  test('--help before -- only', () => {
    expect(wantsHelp(['--election', 'x', '--help'])).toBe(true);
    expect(wantsHelp(['-h'])).toBe(true);
    expect(wantsHelp(['--', 'cmd', '--help'])).toBe(false);
  });

  test('help table lists every flag with its value and default', () => {
    const text = formatFlagHelp([
      { name: 'grace', kind: 'duration', value: 'DURATION', help: 'grace', defaultText: '1s' },
      { name: 'json', kind: 'boolean', help: 'json lines' },
    ]);
    expect(text).toContain('--grace DURATION');
    expect(text).toContain('(default 1s)');
    expect(text).toMatch(/--json\s+json lines/);
  });
});
