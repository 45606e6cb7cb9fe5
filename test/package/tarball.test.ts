/**
 * The packed tarball as a user meets it: installed (from the npm cache, no registry) into a fresh
 * ESM project and a fresh CommonJS project, type-checked by TypeScript under every module setting
 * a user may have, compiled, and run. Each program wins an election on the memory backend, prints
 * its fencing token, and loads every entry point.
 *
 * The CommonJS program runs with `--no-experimental-require-module`: it must load through the
 * CommonJS build, as on the Node versions before 20.19 that `engines` admits, not through
 * require(esm). LEADER_ELECT_TEST_NODE runs the programs on another Node.js.
 */
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { installConsumer, lockedVersion, packTarball, ROOT, run } from './support.js';

const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

/**
 * The Node.js that runs the programs and the CLI: this one, or another to check what `engines`
 * admits, e.g. `LEADER_ELECT_TEST_NODE=/path/to/node-20.3.0 npx vitest run --project package`.
 */
const NODE = process.env.LEADER_ELECT_TEST_NODE ?? process.execPath;

/** Node's flag that turns require(esm) off, where it has one (20.19+, 22.12+). */
function withoutRequireEsm(): string[] {
  const has = run(
    NODE,
    ['-p', 'process.allowedNodeEnvironmentFlags.has("--no-experimental-require-module")'],
    { cwd: ROOT },
  );
  return has.trim() === 'true' ? ['--no-experimental-require-module'] : [];
}

/** What a user installs next to us: every optional peer dependency, at the versions we test. */
function dependencies(tarball: string): Record<string, string> {
  return {
    'leader-elect': `file:${tarball.split('/').pop()}`,
    etcd3: lockedVersion('etcd3'),
    '@kubernetes/client-node': lockedVersion('@kubernetes/client-node'),
    pg: lockedVersion('pg'),
    '@types/pg': lockedVersion('@types/pg'),
    'prom-client': lockedVersion('prom-client'),
  };
}

function tsconfig(compilerOptions: Record<string, unknown>): string {
  return JSON.stringify({
    compilerOptions: {
      target: 'ES2022',
      strict: true,
      // As `tsc --init` writes it (@kubernetes/client-node 1.3's declarations need @types/ws
      // otherwise).
      skipLibCheck: true,
      types: ['node'],
      typeRoots: [join(ROOT, 'node_modules/@types')],
      outDir: 'out',
      ...compilerOptions,
    },
    files: ['main.ts'],
  });
}

/** Loads every entry point; prints one line per check. Shared by both programs. */
const PROGRAM_BODY = `
  const store = new MemoryStore();
  const elector = new LeaderElector({ backend: store.lease('tarball'), identity: IDENTITY });
  void elector.run();
  const term: Term = await elector.waitForLeadership({ signal: AbortSignal.timeout(10_000) });
  console.log(\`\${term.identity} leads with token \${term.token}\`);
  await elector.stop();

  try {
    new LeaderElector({ backend: undefined as never });
  } catch (error) {
    console.log(\`bad input: \${isLeaderElectError(error) ? error.code : 'untyped'}\`);
  }

  const loaded = {
    memory: SubpathStore === MemoryStore,
    testing: new FakeClock().now() === 0,
    etcd: typeof etcdBackend === 'function',
    kubernetes: typeof kubernetesBackend === 'function',
    postgres: typeof postgresBackend === 'function',
    prometheus: typeof prometheusMetrics === 'function',
  };
  console.log(\`subpaths: \${Object.entries(loaded).map(([k, ok]) => \`\${k}=\${ok}\`).join(' ')}\`);
`;

const IMPORTS = `import { isLeaderElectError, LeaderElector, MemoryStore, type Term } from 'leader-elect';
import { etcdBackend } from 'leader-elect/etcd';
import { kubernetesBackend } from 'leader-elect/kubernetes';
import { MemoryStore as SubpathStore } from 'leader-elect/memory';
import { postgresBackend } from 'leader-elect/postgres';
import { prometheusMetrics } from 'leader-elect/prometheus';
import { FakeClock } from 'leader-elect/testing';
`;

const ESM_PROGRAM = `${IMPORTS}import { createRequire } from 'node:module';
import type { ConformanceTarget } from 'leader-elect/testing/conformance';

const IDENTITY = 'esm-consumer';
${PROGRAM_BODY}
// The conformance suite is for vitest, which this project does not install: it says so.
const target: Pick<ConformanceTarget, 'name'> = { name: 'types only' };
const conformance = await import('leader-elect/testing/conformance').then(
  () => 'loaded',
  (error: NodeJS.ErrnoException) => \`\${error.code} (\${/'vitest'/.test(error.message) ? 'vitest' : error.message})\`,
);
console.log(\`conformance: \${target.name}, \${conformance}\`);
const required = createRequire(import.meta.url)('leader-elect') as typeof import('leader-elect');
console.log(\`format: import and require load different builds: \${required.LeaderElector !== LeaderElector}\`);
`;

const CJS_PROGRAM = `${IMPORTS}import { register } from 'prom-client';

const IDENTITY = 'cjs-consumer';

async function main(): Promise<void> {
${PROGRAM_BODY}
  console.log(\`format: \${require.resolve('leader-elect').replace(/.*node_modules\\//, '')}\`);

  // The dual-package hazard, on purpose: both builds in one process (require + import).
  const esm = await import('leader-elect');
  const esmPrometheus = await import('leader-elect/prometheus');
  // Both register on prom-client's global registry: the second must reuse, not fail.
  prometheusMetrics().leaderStatus?.('from-cjs', true);
  esmPrometheus.prometheusMetrics().leaderStatus?.('from-esm', true);
  const status = await register.getSingleMetricAsString('leader_election_master_status');
  const shared = status.includes('name="from-cjs"} 1') && status.includes('name="from-esm"} 1');
  const foreign = new esm.LeaderElectError(esm.ErrorCode.Conflict, 'from the ESM copy');
  console.log(\`two copies: errors recognised=\${isLeaderElectError(foreign)}, metrics shared=\${shared}\`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
`;

let tarball: string;
const dirs: string[] = [];
beforeAll(() => {
  tarball = packTarball();
  dirs.push(dirname(tarball));
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('the packed tarball in a fresh project', () => {
  test('ESM ("type": "module"): nodenext and bundler type-check; node runs it', () => {
    const dir = installConsumer(
      'esm-consumer',
      tarball,
      { private: true, type: 'module', dependencies: dependencies(tarball) },
      {
        'main.ts': ESM_PROGRAM,
        'tsconfig.json': tsconfig({ module: 'NodeNext', moduleResolution: 'NodeNext' }),
        'tsconfig.node16.json': tsconfig({
          module: 'Node16',
          moduleResolution: 'Node16',
          noEmit: true,
        }),
        'tsconfig.bundler.json': tsconfig({
          module: 'Preserve',
          moduleResolution: 'Bundler',
          noEmit: true,
        }),
      },
    );
    dirs.push(dir);
    run(process.execPath, [TSC, '-p', 'tsconfig.node16.json'], { cwd: dir });
    run(process.execPath, [TSC, '-p', 'tsconfig.bundler.json'], { cwd: dir });
    run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: dir });
    const out = run(NODE, ['out/main.js'], { cwd: dir, timeoutMs: 30_000 });
    expect(out.trim().split('\n')).toEqual([
      'esm-consumer leads with token 0',
      'bad input: LE_MISSING_BACKEND',
      'subpaths: memory=true testing=true etcd=true kubernetes=true postgres=true prometheus=true',
      'conformance: types only, ERR_MODULE_NOT_FOUND (vitest)',
      'format: import and require load different builds: true',
    ]);
  });

  test('CommonJS ("type": "commonjs"): node16 and nodenext compile to require(); node runs it without require(esm)', () => {
    const dir = installConsumer(
      'cjs-consumer',
      tarball,
      { private: true, type: 'commonjs', dependencies: dependencies(tarball) },
      {
        'main.ts': CJS_PROGRAM,
        'tsconfig.json': tsconfig({ module: 'Node16', moduleResolution: 'Node16' }),
        'tsconfig.nodenext.json': tsconfig({
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          noEmit: true,
        }),
      },
    );
    dirs.push(dir);
    run(process.execPath, [TSC, '-p', 'tsconfig.nodenext.json'], { cwd: dir });
    run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: dir });
    const out = run(NODE, [...withoutRequireEsm(), 'out/main.js'], {
      cwd: dir,
      timeoutMs: 30_000,
    });
    expect(out.trim().split('\n')).toEqual([
      'cjs-consumer leads with token 0',
      'bad input: LE_MISSING_BACKEND',
      'subpaths: memory=true testing=true etcd=true kubernetes=true postgres=true prometheus=true',
      'format: leader-elect/dist/cjs/index.js',
      'two copies: errors recognised=true, metrics shared=true',
    ]);
    // What TypeScript emitted is CommonJS: require() calls, no import statements.
    const emitted = readFileSync(join(dir, 'out/main.js'), 'utf8');
    expect(emitted).toContain('require("leader-elect")');
    expect(emitted).not.toMatch(/^import /m);
  });

  test('the CLI runs from the installed bin', () => {
    const dir = installConsumer(
      'cli-consumer',
      tarball,
      { private: true, dependencies: { 'leader-elect': dependencies(tarball)['leader-elect']! } },
      {},
    );
    dirs.push(dir);
    const bin = join(dir, 'node_modules/.bin/leader-elect');
    const version = run(NODE, [bin, '--version'], { cwd: dir });
    const { version: ours } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(version.trim()).toBe(ours);
  });
});
