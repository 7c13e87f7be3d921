/**
 * The public API changes only on purpose: the working tree's exports must
 * match tests/public_api.json. After an intended change, regenerate it with
 * `deno run --allow-run --allow-read --allow-write scripts/public_api.ts --update`.
 */
import { diffPublicApi, publicApi, readList } from "../scripts/public_api.ts";

Deno.test("mod.ts and ./embedded export exactly the names in tests/public_api.json", async () => {
  const differences = diffPublicApi(await readList(), await publicApi());
  if (differences.length) {
    throw new Error(
      `the public API differs from tests/public_api.json:\n  ${differences.join("\n  ")}\n` +
        "if intended, run: deno run --allow-run --allow-read --allow-write " +
        "scripts/public_api.ts --update",
    );
  }
});
