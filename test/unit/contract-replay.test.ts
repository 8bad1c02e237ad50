import { DRIVERS, replayMode } from "../contract/modes.js";
import { contractSuite } from "../contract/suite.js";

/**
 * The driver contract suite (test/contract/suite.ts) replayed from the recordings in test/fixtures/replay: no root,
 * no peer. Each request a driver sends must be the one the recording has next on that channel, or the case fails
 * with a diff; see test/contract/replay/.
 */
contractSuite(replayMode(), DRIVERS);
