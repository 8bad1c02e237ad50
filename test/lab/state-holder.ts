// A separate process that takes an inventory's state lock and holds it until killed: the crashed holder of the
// state tests (kill -9 it, and the next run must take over). Usage: tsx test/lab/state-holder.ts LOCATION INVENTORY
import { openState } from "../../src/state/open.js";

const [location, inventory] = process.argv.slice(2);
const store = await openState({ state: location!, inventory: inventory!, secrets: { env: {} }, stateKey: "env:LC_TEST_STATE_KEY" });
await store.lock("state-holder (test)");
await store.append({ at: new Date().toISOString(), run: "holder", step: "stage", target: "held", state: "started" });
process.stdout.write("locked\n");
setInterval(() => undefined, 1000);
