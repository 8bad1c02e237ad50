// The real peers the tests use are the product's lab peers (`linkcrypt lab up` starts the same ones).
export * from "../../src/lab/peers.js";
