import {
  type BootAction,
  getBootAction,
  getBootActionContext,
  identityKeysEqual,
  insertBootAction,
  listBootActions,
  newBootActionId,
  putBootActionContext,
  setBootActionStatus,
  verifyBootActionKey,
  verifyIdentityKey,
} from "../src/boot_actions.ts";
import type { ActionResult } from "../src/tasks.ts";
import { ConflictError, NotFoundError, ValidationError } from "../src/errors.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "./_assert.ts";
import { countRows, dbTest } from "./_helpers.ts";

const TASK = "11111111-1111-4111-8111-111111111111";
const OTHER_TASK = "22222222-2222-4222-8222-222222222222";
const TABLES = ["boot_actions", "boot_action_statuses"];

function newKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(32));
}

function action(over: Partial<Parameters<typeof insertBootAction>[1]> = {}) {
  return {
    actionId: newBootActionId(),
    nodeName: "compute01",
    actionName: "hello_world",
    taskId: TASK,
    identityKey: newKey(),
    ...over,
  };
}

// --- context ---

dbTest(
  "putBootActionContext then getBootActionContext round-trips, key as a plain Uint8Array",
  async (sql) => {
    const identityKey = newKey();
    await putBootActionContext(sql, { nodeName: "compute01", taskId: TASK, identityKey });
    const ctx = await getBootActionContext(sql, "compute01");
    assertEquals(ctx, { nodeName: "compute01", taskId: TASK, identityKey });
    assertEquals(Object.getPrototypeOf(ctx!.identityKey), Uint8Array.prototype);
  },
);

dbTest("putBootActionContext replaces the node's context on redeployment", async (sql) => {
  await putBootActionContext(sql, { nodeName: "compute01", taskId: TASK, identityKey: newKey() });
  const identityKey = newKey();
  await putBootActionContext(sql, { nodeName: "compute01", taskId: OTHER_TASK, identityKey });
  assertEquals(await getBootActionContext(sql, "compute01"), {
    nodeName: "compute01",
    taskId: OTHER_TASK,
    identityKey,
  });
  assertEquals(await countRows(sql, ["boot_actions"]), { boot_actions: 1 });
});

dbTest("getBootActionContext returns null for a node without context", async (sql) => {
  await putBootActionContext(sql, { nodeName: "compute01", taskId: TASK, identityKey: newKey() });
  assertEquals(await getBootActionContext(sql, "compute02"), null);
});

// --- boot actions ---

dbTest(
  "insertBootAction stores an incomplete action that getBootAction reads back",
  async (sql) => {
    const input = action();
    const inserted = await insertBootAction(sql, input);
    const expected: BootAction = {
      actionId: input.actionId,
      nodeName: "compute01",
      actionName: "hello_world",
      taskId: TASK,
      identityKey: input.identityKey,
      status: "incomplete",
    };
    assertEquals(inserted, expected);
    assertEquals(Object.getPrototypeOf(inserted.identityKey), Uint8Array.prototype);
    assertEquals(await getBootAction(sql, input.actionId), expected);
  },
);

dbTest("insertBootAction takes a given status", async (sql) => {
  const inserted = await insertBootAction(sql, action({ status: "unreported" }));
  assertEquals(inserted.status, "unreported");
});

dbTest("a ULID is case-insensitive: stored upper case, found in either case", async (sql) => {
  const id = newBootActionId();
  const inserted = await insertBootAction(sql, action({ actionId: id.toLowerCase() }));
  assertEquals(inserted.actionId, id);
  assertEquals((await getBootAction(sql, id.toLowerCase()))?.actionId, id);
  assertEquals((await setBootActionStatus(sql, id.toLowerCase(), "success")).actionId, id);
});

dbTest("insertBootAction with a taken id throws ConflictError and keeps the first", async (sql) => {
  const first = await insertBootAction(sql, action());
  await assertRejects(
    () => insertBootAction(sql, action({ actionId: first.actionId, actionName: "other" })),
    ConflictError,
  );
  assertEquals(await countRows(sql, ["boot_action_statuses"]), { boot_action_statuses: 1 });
  assertEquals(await getBootAction(sql, first.actionId), first);
});

dbTest("setBootActionStatus updates and returns the action", async (sql) => {
  const inserted = await insertBootAction(sql, action());
  const updated = await setBootActionStatus(sql, inserted.actionId, "partial_success");
  assertEquals(updated, { ...inserted, status: "partial_success" });
  assertEquals(await getBootAction(sql, inserted.actionId), updated);
});

dbTest("setBootActionStatus on a missing action throws NotFoundError", async (sql) => {
  const err = await assertRejects(
    () => setBootActionStatus(sql, newBootActionId(), "success"),
    NotFoundError,
  );
  assertEquals(err.entity, "boot action");
  assertEquals(await countRows(sql, ["boot_action_statuses"]), { boot_action_statuses: 0 });
});

dbTest("getBootAction returns null for a missing action", async (sql) => {
  await insertBootAction(sql, action());
  assertEquals(await getBootAction(sql, newBootActionId()), null);
});

dbTest("listBootActions keys a node's actions by name", async (sql) => {
  const hello = await insertBootAction(sql, action({ actionName: "hello_world" }));
  const proto = await insertBootAction(sql, action({ actionName: "__proto__" }));
  await insertBootAction(sql, action({ nodeName: "compute02" }));
  const listed = await listBootActions(sql, "compute01");
  assertEquals(Object.keys(listed).sort(), ["__proto__", "hello_world"]);
  assertEquals(listed["hello_world"], hello);
  assertEquals(Object.getOwnPropertyDescriptor(listed, "__proto__")?.value, proto);
  assertEquals(await listBootActions(sql, "compute03"), {});
});

dbTest("listBootActions lists the newest action of a name after a redeployment", async (sql) => {
  const t0 = Date.now();
  // The newer one is inserted first: the ULID's time orders them, not insertion.
  const newer = await insertBootAction(
    sql,
    action({ actionId: newBootActionId(t0), taskId: OTHER_TASK }),
  );
  await insertBootAction(
    sql,
    action({ actionId: newBootActionId(t0 - 60_000), status: "success" }),
  );
  assertEquals(await listBootActions(sql, "compute01"), { hello_world: newer });
});

dbTest("boot-action calls compose in one transaction", async (sql) => {
  await assertRejects(
    () =>
      sql.begin(async (tx) => {
        await putBootActionContext(tx, {
          nodeName: "compute01",
          taskId: TASK,
          identityKey: newKey(),
        });
        await insertBootAction(tx, action());
        throw new ConflictError("roll back");
      }),
    ConflictError,
  );
  assertEquals(await countRows(sql, TABLES), { boot_actions: 0, boot_action_statuses: 0 });
});

// --- bad input ---

dbTest(
  "bad boot-action input throws ValidationError before any SQL and writes nothing",
  async (sql, ctx) => {
    const long = "n".repeat(65);
    const calls: [string, () => Promise<unknown>][] = [
      ["identityKey", () => insertBootAction(sql, action({ identityKey: new Uint8Array(31) }))],
      ["identityKey", () => insertBootAction(sql, action({ identityKey: new Uint8Array(33) }))],
      [
        "identityKey",
        () =>
          insertBootAction(
            sql,
            action({ identityKey: Array(32).fill(1) as unknown as Uint8Array }),
          ),
      ],
      ["actionId", () => insertBootAction(sql, action({ actionId: "01ARZ3NDEKTSV4RRFFQ69G5FA" }))],
      ["actionId", () => insertBootAction(sql, action({ actionId: "01ARZ3NDEKTSV4RRFFQ69G5FAU" }))],
      ["actionId", () => insertBootAction(sql, action({ actionId: "81ARZ3NDEKTSV4RRFFQ69G5FAV" }))],
      ["actionId", () => insertBootAction(sql, action({ actionId: crypto.randomUUID() }))],
      ["status", () => insertBootAction(sql, action({ status: "done" as ActionResult }))],
      ["nodeName", () => insertBootAction(sql, action({ nodeName: long }))],
      ["nodeName", () => insertBootAction(sql, action({ nodeName: "" }))],
      ["actionName", () => insertBootAction(sql, action({ actionName: "a".repeat(129) }))],
      ["taskId", () => insertBootAction(sql, action({ taskId: "task-1" }))],
      ["identityKey", () =>
        putBootActionContext(sql, {
          nodeName: "compute01",
          taskId: TASK,
          identityKey: new Uint8Array(16),
        })],
      [
        "nodeName",
        () => putBootActionContext(sql, { nodeName: long, taskId: TASK, identityKey: newKey() }),
      ],
      ["status", () => setBootActionStatus(sql, newBootActionId(), "complete" as ActionResult)],
      ["actionId", () => setBootActionStatus(sql, "not-a-ulid", "success")],
      ["actionId", () => getBootAction(sql, "not-a-ulid")],
      ["nodeName", () => getBootActionContext(sql, long)],
      ["nodeName", () => listBootActions(sql, long)],
      ["presented", () => verifyIdentityKey(sql, "compute01", "key" as unknown as Uint8Array)],
      ["actionId", () => verifyBootActionKey(sql, "nope", newKey())],
    ];
    for (const [path, call] of calls) {
      const err = await assertRejects(call, ValidationError);
      assertEquals(err.issues.map((i) => i.path), [path], `${path}: ${err.message}`);
    }
    assertEquals(ctx.statements, [], "no SQL was sent");
    assertEquals(await countRows(sql, TABLES), { boot_actions: 0, boot_action_statuses: 0 });
  },
);

// --- identity keys ---

Deno.test("identityKeysEqual is true only for the same bytes and length", () => {
  const key = newKey();
  assert(identityKeysEqual(key, key.slice()));
  const lastDiffers = key.slice();
  lastDiffers[31] ^= 1;
  const firstDiffers = key.slice();
  firstDiffers[0] ^= 0x80;
  assert(!identityKeysEqual(key, lastDiffers));
  assert(!identityKeysEqual(key, firstDiffers));
  assert(!identityKeysEqual(key, key.slice(0, 31)), "a prefix");
  assert(!identityKeysEqual(key, Uint8Array.of(...key, 0)), "an extension");
  assert(!identityKeysEqual(key, new Uint8Array(0)));
  assert(!identityKeysEqual(new Uint8Array(0), new Uint8Array(0)), "an empty key never matches");
});

Deno.test("identityKeysEqual reads every byte whatever the mismatch (no early exit)", () => {
  const key = newKey();
  const firstDiffers = key.slice();
  firstDiffers[0] ^= 1;
  for (const presented of [firstDiffers, key.slice(0, 1), new Uint8Array(0), new Uint8Array(64)]) {
    const read = new Set<number>();
    const expected = new Proxy(key, {
      get(target, prop) {
        if (typeof prop === "string" && /^\d+$/.test(prop)) read.add(Number(prop));
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    assert(!identityKeysEqual(expected, presented));
    assertEquals(read.size, 32, `read ${read.size} of 32 bytes for length ${presented.length}`);
  }
});

Deno.test("identityKeysEqual rejects what is not a Uint8Array", () => {
  assertThrows(
    () => identityKeysEqual(newKey(), "secret" as unknown as Uint8Array),
    ValidationError,
  );
});

dbTest("verifyIdentityKey checks a node's presented key against its context", async (sql) => {
  const identityKey = newKey();
  await putBootActionContext(sql, { nodeName: "compute01", taskId: TASK, identityKey });
  assertEquals(await verifyIdentityKey(sql, "compute01", identityKey.slice()), true);
  assertEquals(await verifyIdentityKey(sql, "compute01", newKey()), false);
  assertEquals(await verifyIdentityKey(sql, "compute01", identityKey.slice(0, 16)), false);
  assertEquals(await verifyIdentityKey(sql, "compute02", identityKey), false, "no context");
  // The stand-in compared when nothing is stored must not match either.
  assertEquals(await verifyIdentityKey(sql, "compute02", new Uint8Array(32)), false);
});

dbTest("verifyBootActionKey checks a report's key against the action's", async (sql) => {
  const inserted = await insertBootAction(sql, action());
  assertEquals(await verifyBootActionKey(sql, inserted.actionId, inserted.identityKey), true);
  assertEquals(await verifyBootActionKey(sql, inserted.actionId, newKey()), false);
  assertEquals(await verifyBootActionKey(sql, inserted.actionId, new Uint8Array(0)), false);
  assertEquals(
    await verifyBootActionKey(sql, newBootActionId(), new Uint8Array(32)),
    false,
    "no action",
  );
});
