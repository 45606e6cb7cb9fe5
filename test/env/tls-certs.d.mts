export interface TestCerts {
  ca: string;
  cert: string;
  key: string;
  clientCert: string;
  clientKey: string;
}
export function makeTestCerts(dir: string, opts?: { clientCN?: string }): Promise<TestCerts>;
