// Generates a throwaway CA, an etcd server certificate for 127.0.0.1 and a
// client certificate with the openssl CLI, for the TLS variants of the
// etcd tests. Keys are EC P-256 (fast to generate), valid for two days.
//
//   const certs = await makeTestCerts(dir, { clientCN: 'root' });
//   startEtcdCluster({ binary, tls: { ...certs, clientCertAuth: true } })
//
// etcd takes the client certificate's CN as the user name when auth is on,
// hence the clientCN option.

import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function openssl(args, cwd) {
  try {
    await run('openssl', args, { cwd, timeout: 30_000 });
  } catch (err) {
    throw new Error(`openssl ${args.join(' ')} failed: ${err.stderr || err.message}`);
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/**
 * @param {string} dir  where to write the files (created if missing)
 * @param {{clientCN?: string}} [opts]
 * @returns {Promise<{ca: string, cert: string, key: string, clientCert: string, clientKey: string}>}
 *   absolute paths: ca = CA certificate, cert/key = server pair (also valid
 *   for client auth), clientCert/clientKey = client pair with CN clientCN.
 */
export async function makeTestCerts(dir, { clientCN = 'root' } = {}) {
  await mkdir(dir, { recursive: true });
  await openssl(
    [
      'req',
      '-x509',
      ...EC,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
      '-subj',
      '/CN=leader-elect test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  await writeFile(
    join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  await writeFile(
    join(dir, 'client.ext'),
    'keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n',
  );
  for (const [name, cn] of [
    ['server', 'etcd-server'],
    ['client', clientCN],
  ]) {
    await openssl(
      ['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`],
      dir,
    );
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        `${name}.crt`,
        '-days',
        '2',
        '-extfile',
        `${name}.ext`,
      ],
      dir,
    );
  }
  return {
    ca: join(dir, 'ca.crt'),
    cert: join(dir, 'server.crt'),
    key: join(dir, 'server.key'),
    clientCert: join(dir, 'client.crt'),
    clientKey: join(dir, 'client.key'),
  };
}
