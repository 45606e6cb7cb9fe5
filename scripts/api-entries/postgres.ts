/**
 * Elections and fenced transactions over PostgreSQL (`pg` 8.x is an optional peer dependency). Guide: `docs/postgres.md`.
 *
 * @module leader-elect/postgres
 */
export * from '../../src/postgres/index.js';
