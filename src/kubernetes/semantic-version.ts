/**
 * Semantic versions as the apiserver validates a LeaseCandidate's `binaryVersion` and
 * `emulationVersion`: strict SemVer 2.0.0 (`MAJOR.MINOR.PATCH`, optional `-prerelease` and
 * `+build`), no leading `v`, no leading zeros. Only parsing and precedence: what validation and
 * the `emulationVersion ≤ binaryVersion` rule need.
 */

export interface SemanticVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** Dot-separated pre-release identifiers (`['rc', '1']` for `-rc.1`); empty for a release. */
  readonly prerelease: readonly string[];
}

const NUMBER = '0|[1-9]\\d*';
const PRERELEASE_ID = `(?:${NUMBER}|\\d*[a-zA-Z-][0-9a-zA-Z-]*)`;
const SEMVER = new RegExp(
  `^(${NUMBER})\\.(${NUMBER})\\.(${NUMBER})` +
    `(?:-(${PRERELEASE_ID}(?:\\.${PRERELEASE_ID})*))?` +
    '(?:\\+[0-9a-zA-Z-]+(?:\\.[0-9a-zA-Z-]+)*)?$',
);

/** The version, or a sentence saying why `text` is not one. */
export function parseSemanticVersion(text: string): SemanticVersion | string {
  if (/^v\d/.test(text)) return 'has a leading "v" (write 1.33.0, not v1.33.0)';
  const match = SEMVER.exec(text);
  if (match === null) {
    return 'is not a semantic version MAJOR.MINOR.PATCH (e.g. 1.33.0; no leading zeros)';
  }
  const [, major = '', minor = '', patch = '', prerelease] = match;
  const numbers = [major, minor, patch].map(Number);
  if (numbers.some((n) => !Number.isSafeInteger(n))) return 'has a component too large';
  return {
    major: numbers[0] ?? 0,
    minor: numbers[1] ?? 0,
    patch: numbers[2] ?? 0,
    prerelease: prerelease === undefined ? [] : prerelease.split('.'),
  };
}

/** SemVer precedence: negative when `a < b`, 0 when equal (build metadata ignored), positive. */
export function compareSemanticVersions(a: SemanticVersion, b: SemanticVersion): number {
  const core = a.major - b.major || a.minor - b.minor || a.patch - b.patch;
  if (core !== 0) return Math.sign(core);
  // A pre-release sorts before its release.
  if (a.prerelease.length === 0 || b.prerelease.length === 0) {
    return Math.sign(b.prerelease.length - a.prerelease.length);
  }
  const length = Math.min(a.prerelease.length, b.prerelease.length);
  for (let i = 0; i < length; i++) {
    const order = compareIdentifiers(a.prerelease[i] ?? '', b.prerelease[i] ?? '');
    if (order !== 0) return order;
  }
  return Math.sign(a.prerelease.length - b.prerelease.length);
}

function compareIdentifiers(a: string, b: string): number {
  const aNumeric = /^\d+$/.test(a);
  const bNumeric = /^\d+$/.test(b);
  if (aNumeric && bNumeric) return Math.sign(Number(a) - Number(b));
  if (aNumeric !== bNumeric) return aNumeric ? -1 : 1; // numeric identifiers sort first
  return a < b ? -1 : a > b ? 1 : 0;
}
