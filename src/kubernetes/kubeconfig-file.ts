/**
 * Reading and parsing kubeconfig files: the entries (clusters, users, contexts) as our loader and
 * credentials use them, several files merged as kubectl merges `$KUBECONFIG`, and the typed
 * field reads whose errors name the file and the entry. No choice of a context, no credentials.
 */
import { readFile } from 'node:fs/promises';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { load as parseYaml } from 'js-yaml';
import { ErrorCode, LeaderElectError } from '../errors.js';

export interface ClusterEntry {
  readonly server: string;
  readonly caFile?: string | undefined;
  readonly caData?: string | undefined;
  readonly insecure: boolean;
  readonly tlsServerName?: string | undefined;
  readonly proxyUrl?: string | undefined;
}

export interface UserEntry {
  readonly token?: string | undefined;
  readonly tokenFile?: string | undefined;
  readonly certFile?: string | undefined;
  readonly certData?: string | undefined;
  readonly keyFile?: string | undefined;
  readonly keyData?: string | undefined;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  readonly impersonate?: string | undefined;
  /** Plugin sections our own credentials do not implement: client-node handles them (as read). */
  readonly exec?: unknown;
  readonly authProvider?: unknown;
}

export interface ContextEntry {
  readonly cluster: string;
  readonly user: string;
  readonly namespace?: string | undefined;
}

export interface Parsed {
  readonly source: string;
  readonly currentContext: string | undefined;
  readonly clusters: Map<string, ClusterEntry>;
  readonly users: Map<string, UserEntry>;
  readonly contexts: Map<string, ContextEntry>;
}

export async function readFiles(files: readonly string[]): Promise<Parsed> {
  const merged: Parsed & { currentContext: string | undefined } = {
    source: files.join(delimiter),
    currentContext: undefined,
    clusters: new Map(),
    users: new Map(),
    contexts: new Map(),
  };
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (cause) {
      throw invalid(
        `cannot read the kubeconfig ${file}: ${readFailure(cause)}`,
        { path: file },
        cause,
      );
    }
    const parsed = parseFile(text, file);
    // kubectl's merge: the first file to set a value wins.
    merged.currentContext ??= parsed.currentContext;
    for (const kind of ['clusters', 'users', 'contexts'] as const) {
      const into = merged[kind] as Map<string, unknown>;
      for (const [name, entry] of parsed[kind]) if (!into.has(name)) into.set(name, entry);
    }
  }
  return merged;
}

function parseFile(text: string, file: string): Parsed {
  let document: unknown;
  try {
    document = parseYaml(text, { filename: file });
  } catch (cause) {
    throw invalid(
      `the kubeconfig ${file} is not valid YAML: ${(cause as Error).message}`,
      { path: file },
      cause,
    );
  }
  if (document === undefined || document === null) document = {};
  if (!isRecord(document)) throw invalid(`the kubeconfig ${file} is not a mapping`, { path: file });
  const at = new Fields(file, dirname(file));
  const current = at.optionalString(document, 'current-context', 'the top level');
  return {
    source: file,
    currentContext: current === '' ? undefined : current,
    clusters: at.named(document, 'clusters', 'cluster', (entry, where) => ({
      server: at.requiredString(entry, 'server', where).replace(/\/$/, ''),
      caFile: at.path(entry, 'certificate-authority', where),
      caData: at.optionalString(entry, 'certificate-authority-data', where),
      insecure: at.optionalBoolean(entry, 'insecure-skip-tls-verify', where) ?? false,
      tlsServerName: at.optionalString(entry, 'tls-server-name', where),
      proxyUrl: at.optionalString(entry, 'proxy-url', where),
    })),
    users: at.named(document, 'users', 'user', (entry, where) => ({
      token: at.optionalString(entry, 'token', where),
      tokenFile: at.path(entry, 'tokenFile', where) ?? at.path(entry, 'token-file', where),
      certFile: at.path(entry, 'client-certificate', where),
      certData: at.optionalString(entry, 'client-certificate-data', where),
      keyFile: at.path(entry, 'client-key', where),
      keyData: at.optionalString(entry, 'client-key-data', where),
      username: at.optionalString(entry, 'username', where),
      password: at.optionalString(entry, 'password', where),
      impersonate: at.optionalString(entry, 'as', where),
      exec: entry.exec ?? undefined,
      authProvider: entry['auth-provider'] ?? undefined,
    })),
    contexts: at.named(document, 'contexts', 'context', (entry, where) => ({
      cluster: at.requiredString(entry, 'cluster', where),
      user: at.optionalString(entry, 'user', where) ?? '',
      namespace: at.optionalString(entry, 'namespace', where) || undefined,
    })),
  };
}

/** Typed reads of one file's fields, with errors that name the file and the entry. */
class Fields {
  constructor(
    private readonly file: string,
    private readonly directory: string,
  ) {}

  /** A `[{ name, <key>: {...} }]` list as a map (the first of two entries with one name wins). */
  named<T>(
    document: Record<string, unknown>,
    list: string,
    key: string,
    read: (entry: Record<string, unknown>, where: string) => T,
  ): Map<string, T> {
    const out = new Map<string, T>();
    const items = document[list];
    if (items === undefined || items === null) return out;
    if (!Array.isArray(items)) throw this.error(`${list} must be a list`);
    items.forEach((item: unknown, i) => {
      if (!isRecord(item) || typeof item.name !== 'string' || item.name === '') {
        throw this.error(`${list}[${i}] needs a name`);
      }
      const where = `${list}[${i}] ("${item.name}")`;
      const body = item[key] ?? {};
      if (!isRecord(body)) throw this.error(`${where}.${key} must be a mapping`);
      if (!out.has(item.name)) out.set(item.name, read(body, `${where}.${key}`));
    });
    return out;
  }

  optionalString(entry: Record<string, unknown>, field: string, where: string): string | undefined {
    const value = entry[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') {
      throw this.error(`${where}.${field} must be a string, got ${typeof value}`);
    }
    return value;
  }

  requiredString(entry: Record<string, unknown>, field: string, where: string): string {
    const value = this.optionalString(entry, field, where);
    if (value === undefined || value === '') throw this.error(`${where}.${field} is missing`);
    return value;
  }

  optionalBoolean(
    entry: Record<string, unknown>,
    field: string,
    where: string,
  ): boolean | undefined {
    const value = entry[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') {
      throw this.error(`${where}.${field} must be true or false, got ${JSON.stringify(value)}`);
    }
    return value;
  }

  /** A file name, relative to the kubeconfig's directory (kubectl's rule). */
  path(entry: Record<string, unknown>, field: string, where: string): string | undefined {
    const value = this.optionalString(entry, field, where);
    if (value === undefined || value === '') return undefined;
    return isAbsolute(value) ? value : join(this.directory, value);
  }

  error(message: string): LeaderElectError {
    return invalid(`the kubeconfig ${this.file}: ${message}`, { path: this.file });
  }
}

// ---------------------------------------------------------------------------

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function invalid(
  message: string,
  details: Record<string, unknown> = {},
  cause?: unknown,
): LeaderElectError {
  return new LeaderElectError(ErrorCode.InvalidOption, message, {
    details,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Why a file could not be read, in words, with the errno code the user can search for. */
export function readFailure(cause: unknown): string {
  const code = (cause as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file (ENOENT)';
  if (code === 'EACCES') return 'permission denied (EACCES)';
  if (code === 'EISDIR') return 'a directory, not a file (EISDIR)';
  return code ?? String(cause);
}
