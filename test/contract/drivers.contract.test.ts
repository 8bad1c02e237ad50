import { DRIVERS, realMode } from "./modes.js";
import { contractSuite } from "./suite.js";

/**
 * The driver contract suite against every driver's real peer (root: the peers start themselves, see
 * test/lab/ensure-peers.sh). The cases are in ./suite.ts, the subjects in ./subjects.ts.
 * `LINKCRYPT_CONTRACT_RECORD=test/fixtures/replay` also records each case's requests and replies for the replay
 * mode (test/unit/contract-replay.test.ts); `LINKCRYPT_CONTRACT_DRIVERS=a,b` runs only those drivers.
 */
contractSuite(realMode(process.env.LINKCRYPT_CONTRACT_RECORD || undefined), DRIVERS);
