// Types for the values test/env/global-setup-postgres.mjs provides to inject().
import 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
    postgresHost: string;
    postgresPort: number;
    postgresAdminUser: string;
    postgresPassword: string;
    postgresVersion: string;
  }
}
