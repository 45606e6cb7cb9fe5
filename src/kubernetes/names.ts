import { ErrorCode, LeaderElectError } from '../errors.js';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_LABEL_MAX = 63;
const DNS1123_SUBDOMAIN_MAX = 253;

/**
 * Lease names follow the apiserver's rule for most objects: a DNS-1123 subdomain (lowercase
 * alphanumerics, `-` and `.`, starting and ending with an alphanumeric, at most 253 characters).
 * Checked before any request, so a typo fails at construction instead of as a 422 at runtime.
 */
export function validateLeaseName(name: unknown): asserts name is string {
  const problem = dns1123SubdomainProblem(name);
  if (problem !== null) {
    throw new LeaderElectError(
      ErrorCode.InvalidName,
      `invalid Lease name ${JSON.stringify(name)}: ${problem}`,
      { details: { name, rule: 'DNS-1123 subdomain' } },
    );
  }
}

/** Namespaces are DNS-1123 labels: lowercase alphanumerics and `-`, at most 63 characters. */
export function validateNamespace(namespace: unknown): asserts namespace is string {
  const problem = dns1123LabelProblem(namespace);
  if (problem !== null) {
    throw new LeaderElectError(
      ErrorCode.InvalidName,
      `invalid namespace ${JSON.stringify(namespace)}: ${problem}`,
      { details: { namespace, rule: 'DNS-1123 label' } },
    );
  }
}

function dns1123LabelProblem(value: unknown): string | null {
  if (typeof value !== 'string') return `expected a string, got ${typeof value}`;
  if (value.length === 0) return 'must not be empty';
  if (value.length > DNS1123_LABEL_MAX) {
    return `must be at most ${DNS1123_LABEL_MAX} characters (DNS-1123 label), got ${value.length}`;
  }
  if (!DNS1123_LABEL.test(value)) {
    return (
      "must be a DNS-1123 label: lowercase letters, digits and '-', " +
      'starting and ending with a letter or digit'
    );
  }
  return null;
}

function dns1123SubdomainProblem(value: unknown): string | null {
  if (typeof value !== 'string') return `expected a string, got ${typeof value}`;
  if (value.length === 0) return 'must not be empty';
  if (value.length > DNS1123_SUBDOMAIN_MAX) {
    return `must be at most ${DNS1123_SUBDOMAIN_MAX} characters (DNS-1123 subdomain), got ${value.length}`;
  }
  // A subdomain is dot-separated labels (the 63-character limit does not apply to its parts).
  for (const part of value.split('.')) {
    if (part.length === 0 || !DNS1123_LABEL.test(part)) {
      return (
        "must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', " +
        'each dot-separated part starting and ending with a letter or digit'
      );
    }
  }
  return null;
}
