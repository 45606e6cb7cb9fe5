import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

/**
 * Finds `command` as `execvp` would: a name with a slash is taken as a path, anything else is
 * looked up on `PATH`. Returns the absolute path, or a reason it cannot be run.
 */
export function resolveExecutable(
  command: string,
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): { readonly path: string } | { readonly problem: string } {
  if (command === '') return { problem: 'the command is empty' };
  if (command.includes('/')) {
    const path = isAbsolute(command) ? command : resolve(cwd, command);
    const problem = executableProblem(path);
    return problem === null ? { path } : { problem };
  }
  const searchPath = env.PATH ?? '/usr/local/bin:/usr/bin:/bin';
  let found: string | null = null;
  for (const dir of searchPath.split(delimiter)) {
    const candidate = join(dir === '' ? cwd : dir, command);
    const problem = executableProblem(candidate);
    if (problem === null) return { path: candidate };
    if (found === null && problem !== 'not found') found = `${candidate}: ${problem}`;
  }
  return { problem: found ?? 'not found on PATH' };
}

function executableProblem(path: string): string | null {
  let stats: ReturnType<typeof statSync>;
  try {
    stats = statSync(path);
  } catch {
    return 'not found';
  }
  if (stats.isDirectory()) return 'is a directory';
  try {
    accessSync(path, constants.X_OK);
  } catch {
    return 'not executable (chmod +x?)';
  }
  return null;
}
