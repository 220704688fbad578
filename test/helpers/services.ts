/**
 * Suites that need an outside service (PostgreSQL, the S3 server, Chromium, a JDK with ProGuard)
 * read where it is from one environment variable. Locally, a missing variable skips the suite
 * with a line saying how to run it; in CI (`MAPVAULT_TEST_REQUIRE_SERVICES=1`, set by `.ci/run`)
 * a missing variable fails the suite, so a CI run can never pass by skipping.
 *
 *   MAPVAULT_TEST_PG_URL     postgres://… of a server whose role may create databases
 *   MAPVAULT_TEST_S3_URL     s3://bucket?endpoint=…&region=… (credentials: AWS_* variables)
 *   MAPVAULT_TEST_CHROMIUM   path of a Chromium binary
 *   MAPVAULT_TEST_PROGUARD   path of the ProGuard install (proguard-cli), for the Java oracle
 *
 * `scripts/services/<name>.sh start` installs (Debian packages), starts the service on loopback
 * and prints the `export` lines; `.ci/run` evaluates them.
 */
export type ServiceVar = 'MAPVAULT_TEST_PG_URL' | 'MAPVAULT_TEST_S3_URL' | 'MAPVAULT_TEST_CHROMIUM' | 'MAPVAULT_TEST_PROGUARD';

/** The variable's value, or a skip reason for node:test's `{ skip }` (throws in CI when unset). */
export function service(name: ServiceVar, script: string): { value: string; skip: false } | { value: ''; skip: string } {
  const value = process.env[name];
  if (value) return { value, skip: false };
  if (process.env.MAPVAULT_TEST_REQUIRE_SERVICES === '1') {
    throw new Error(`${name} is not set but MAPVAULT_TEST_REQUIRE_SERVICES=1: run \`eval "$(${script} start)"\` first`);
  }
  return { value: '', skip: `${name} not set (run \`eval "$(${script} start)"\` to include this suite)` };
}
