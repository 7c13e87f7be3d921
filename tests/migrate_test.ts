import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { MigrationError } from "../src/errors.ts";
import { migrate, migrationStatus } from "../src/migrate.ts";
import { migrations } from "../src/_migrations.ts";
import { withSchema } from "./_helpers.ts";

const noMigrate = { migrate: false };

Deno.test("migrate() applies every migration, then a second run applies nothing", () =>
  withSchema(async (sql) => {
    const versions = migrations.map((m) => m.version);
    assertEquals(await migrationStatus(sql), { applied: [], pending: versions });
    const first = await migrate(sql);
    assertEquals(first.applied, versions);
    assertEquals(first.current, versions.at(-1)!);
    const second = await migrate(sql);
    assertEquals(second, { applied: [], current: versions.at(-1)! });
    const status = await migrationStatus(sql);
    assertEquals(status.pending, []);
    assertEquals(status.applied.map((a) => a.version), versions);
    assert(status.applied.every((a) => a.appliedAt instanceof Date && a.checksum.length === 64));
  }, noMigrate));

Deno.test("four concurrent migrate() calls all succeed and apply each file once", () =>
  withSchema(async (_sql, ctx) => {
    const pools = [0, 1, 2, 3].map(() => ctx.connect({ max: 1 }));
    const results = await Promise.all(pools.map((p) => migrate(p)));
    const applied = results.flatMap((r) => r.applied).sort();
    assertEquals(applied, migrations.map((m) => m.version));
    const [{ n }] = await pools[0]`SELECT count(*)::int AS n FROM schema_migrations`;
    assertEquals(n, migrations.length);
  }, noMigrate));

Deno.test("migrate() refuses an applied migration whose file changed, naming it", () =>
  withSchema(async (sql) => {
    await migrate(sql);
    const changed = migrations.map((m, i) => i === 0 ? { ...m, sql: m.sql + "\n-- edited" } : m);
    const err = await assertRejects(() => migrate(sql, { migrations: changed }), MigrationError);
    assertEquals(err.version, migrations[0].version);
    assert(err.message.includes(migrations[0].version));
  }, noMigrate));

Deno.test("a failing migration is rolled back whole and reported", () =>
  withSchema(async (sql) => {
    const bad = [...migrations, {
      version: "9999_broken",
      sql: "CREATE TABLE half_done (id int); SELECT no_such_function();",
    }];
    const err = await assertRejects(() => migrate(sql, { migrations: bad }), MigrationError);
    assertEquals(err.version, "9999_broken");
    const [{ t }] = await sql`SELECT to_regclass('half_done')::text AS t`;
    assertEquals(t, null);
    assertEquals((await migrationStatus(sql, { migrations: bad })).pending, ["9999_broken"]);
  }, noMigrate));
