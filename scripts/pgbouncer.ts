/**
 * `deno task pgbouncer [test files…]`: runs the suite through Debian's
 * PgBouncer (1.18) in transaction mode, on a loopback port in front of the
 * server (`DATABASE_URL`, default 127.0.0.1:5432), with `prepare: false`
 * and a database per test (tests/_helpers.ts, `STATEMGMT_TEST_PGBOUNCER=1`).
 * Without files it runs {@linkcode BEHIND_PGBOUNCER}: tasks, messages,
 * claims, migrations, events, the lifecycle and the elector. Stops
 * PgBouncer by its pid afterwards and prints `pgbouncer: N passed, N failed`.
 */
import { freePort, run } from "./_cluster.ts";
import { runSuite } from "./_suite.ts";

/** What runs behind PgBouncer; see README, "Behind PgBouncer", for what does not, and why. */
const BEHIND_PGBOUNCER = [
  "tests/tasks_test.ts",
  "tests/tasks_lease_test.ts",
  "tests/batch_test.ts",
  "tests/complete_and_claim_test.ts",
  "tests/result_messages_test.ts",
  "tests/build_data_test.ts",
  "tests/boot_actions_test.ts",
  "tests/migrate_test.ts",
  // Not tests/events_test.ts: 13 of its 15 pass behind PgBouncer, but its
  // wake-up test counts NOTIFYs on a pooled LISTEN and its 60-byte-schema test
  // makes a schema of its own (no search_path behind PgBouncer); the event
  // log's polling read is shown here by tests/pgbouncer/.
  "tests/lifecycle_roll_up_test.ts",
  "tests/lifecycle_retry_test.ts",
  "tests/lifecycle_termination_test.ts",
  "tests/lifecycle_wait_test.ts",
  "tests/lifecycle_rescue_test.ts",
  "tests/lifecycle_retention_test.ts",
  "tests/leadership_lease_test.ts",
  "tests/leadership_elector_test.ts",
  "tests/pgbouncer/pgbouncer_test.ts",
];

/**
 * Tests of those files that promise what a LISTEN through transaction pooling
 * cannot give (it receives nothing there); tests/pgbouncer/ measures the same
 * behind PgBouncer: polling, or `listenSql` on a direct pool.
 */
const NEEDS_LISTEN = [
  // Waits for the release's NOTIFY on a pooled LISTEN, forever; tests/pgbouncer/
  // shows the same NOTIFY reaching a direct LISTEN.
  "releaseLeadership(): expires the lease and notifies the schema's channel in the same statement; the next claim takes the next term",
  // A release noticed at once (retryMs 5 s): through PgBouncer it is noticed by polling.
  "three electors: exactly one leads; stop() of the leader hands over in well under a second with a 10 s lease",
  // No `error` event at all: behind PgBouncer the start-up probe reports the deaf LISTEN.
  "heartbeats use their own connection: a leader keeps its lease while the program's pool is busy for longer than a lease",
];

const upstream = new URL(
  Deno.env.get("DATABASE_URL") ?? "postgres://postgres@127.0.0.1:5432/postgres",
);
const port = freePort();
const dir = await Deno.makeTempDir({ prefix: "statemgmt-pgbouncer-" });
// PgBouncer refuses to run as root: it switches to postgres (-u) after reading its files.
const asUser = Deno.uid() === 0 ? "postgres" : undefined;
const user = decodeURIComponent(upstream.username || "postgres");
await Deno.writeTextFile(`${dir}/users.txt`, `"${user}" ""\n`);
await Deno.writeTextFile(
  `${dir}/pgbouncer.ini`,
  `[databases]
; Any database name, so a test's fresh database is reachable without a reload.
* = host=${upstream.hostname} port=${upstream.port || 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = trust
auth_file = ${dir}/users.txt
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 20
; Server connections to a dropped test database close soon.
server_idle_timeout = 10
autodb_idle_timeout = 30
log_connections = 0
log_disconnections = 0
logfile = ${dir}/pgbouncer.log
pidfile = ${dir}/pgbouncer.pid
`,
);
if (asUser) await run(["chown", "-R", asUser, dir]);

const version = new TextDecoder().decode(
  (await new Deno.Command("pgbouncer", { args: ["--version"], stdout: "piped" }).output()).stdout,
).split("\n")[0];
const bouncer = new Deno.Command("pgbouncer", {
  args: [...(asUser ? ["-u", asUser] : []), `${dir}/pgbouncer.ini`],
  stdout: "null",
  stderr: "null", // it logs to its logfile too; the tail is shown when tests fail
}).spawn();

let code = 1;
let summary = "no summary (see above)";
try {
  await waitForPort(port, 10_000);
  const url = `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/${
    upstream.pathname.slice(1) || "postgres"
  }`;
  console.error(
    `pgbouncer: ${version} in transaction mode on 127.0.0.1:${port} in front of ${upstream.host}`,
  );
  const files = Deno.args.length ? Deno.args : BEHIND_PGBOUNCER.filter(existsSync);
  const result = await runSuite(files, {
    DATABASE_URL: url,
    STATEMGMT_TEST_PGBOUNCER: "1",
    STATEMGMT_TEST_DIRECT_URL: upstream.toString(),
    STATEMGMT_TEST_SKIP: JSON.stringify(NEEDS_LISTEN),
  });
  code = result.code;
  const c = result.counts;
  if (c) summary = `${c.passed} passed, ${c.failed} failed, ${c.ignored} ignored (need LISTEN)`;
} finally {
  bouncer.kill("SIGTERM");
  await bouncer.status;
  if (code !== 0) {
    const lines = (await Deno.readTextFile(`${dir}/pgbouncer.log`).catch(() => "")).split("\n");
    console.error(`pgbouncer: its log's last lines:\n${lines.slice(-30).join("\n")}`);
  }
  await Deno.remove(dir, { recursive: true });
}
console.log(`\npgbouncer: ${version}, transaction mode, prepare: false: ${summary}`);
Deno.exit(code);

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

async function waitForPort(port: number, withinMs: number): Promise<void> {
  const until = performance.now() + withinMs;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch (err) {
      if (performance.now() > until) {
        throw new Error(`pgbouncer did not listen on ${port}`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
