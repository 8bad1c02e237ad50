import { Command, CommanderError, Option } from "commander";
import { LinkcryptError, UsageError } from "../errors.js";
import { runApply } from "./apply.js";
import { runKeysStatus, runRotate } from "./keys.js";
import { STATE_HELP, STATE_KEY_HELP } from "../state/open.js";
import { runMetricsWithState, runReport, runVerify } from "./report.js";
import { runDiscover } from "./discover.js";
import { runExplain } from "./explain.js";
import { runLab } from "./lab.js";
import { runMesh } from "./mesh.js";
import { runMtu } from "./mtu.js";
import { NUMERIC } from "./numeric.js";
import { EXIT, safeProgress, safeText, type Out } from "./output.js";
import { runPlan } from "./plan.js";
import { runSchema } from "./schema.js";
import { runServe } from "./serve.js";
import { runValidate } from "./validate.js";
import { addExamples, completionScript } from "./help.js";
import { versionLine } from "./version.js";

/**
 * The CLI. Each verb lives in its own file and returns an exit code; this is the only place that catches:
 * usage mistakes exit 64, bad input 1 (with the problems listed), anything unexpected 70 with a one-line message.
 */
export async function main(argv: string[], rawOut: Out = process.stdout, rawErr: Out = process.stderr): Promise<number> {
  // Nothing from input reaches the terminal raw: every write has its control characters escaped (src/cli/output.ts).
  const out: Out = { write: (s) => rawOut.write(safeText(s)) };
  const err: Out = { write: (s) => rawErr.write(safeProgress(s)) };
  let code: number = EXIT.ok;
  const collect = (v: string, prev: string[]) => [...prev, v];
  const profilesOpt = () =>
    new Option("--profiles <dir>", "extra profile directory (repeatable); later ones override bundled profiles")
      .argParser(collect)
      .default([]);
  // --limit and --batch (src/model/limit.ts); the verb that takes them checks the pattern against the inventory.
  const limitOpt = () =>
    new Option(
      "--limit <pattern>",
      "touch only what PATTERN selects: globs (* ? [ab]) over device, host, link and site names, comma- or colon-separated; " +
        "!TERM excludes, e.g. 'fra-*,!fra-sw2'; a term that matches nothing is an error (exit 64)",
    );
  const batchOpt = () =>
    new Option(
      "--batch <n>",
      "roll out in batches of N targets, or N% of them (like Ansible's serial); each batch finishes, and must not fail, before the next starts",
    );
  const sshConfigOpt = () =>
    new Option(
      "--ssh-config <file>",
      "OpenSSH client config for Host, HostName, User, Port, IdentityFile and ProxyJump (default $LINKCRYPT_SSH_CONFIG, else ~/.ssh/config if it exists; inventory values win)",
    );
  const program = new Command("linkcrypt")
    .description("Plan, apply, verify and report link encryption: L1 encryptors, MACsec, NIC offload and a host IPsec mesh")
    .version(versionLine(), "-V, --version", "print the version and the git commit it was built from")
    .exitOverride()
    .configureOutput({ writeOut: (s) => out.write(s), writeErr: (s) => err.write(s) })
    .showHelpAfterError("(run linkcrypt --help for usage)");

  program
    .command("validate")
    .description("check an inventory and report every problem at once")
    .argument("<inventory>", "inventory YAML file")
    .option("--json", "machine-readable output")
    .addOption(profilesOpt())
    .action((file: string, o: { json?: boolean; profiles: string[] }) => {
      code = runValidate(file, o, out);
    });

  program
    .command("plan")
    .description("decide how every link and host pair is encrypted, with reasons and MTU budgets")
    .argument("<inventory>", "inventory YAML file")
    .option("--json", "print the plan as JSON")
    .option("--out <file>", "save the plan (JSON) for apply")
    .option("--facts <file>", "discovered facts (linkcrypt discover --out); they override profile defaults")
    .addOption(profilesOpt())
    .action((file: string, o: { json?: boolean; out?: string; profiles: string[]; facts?: string }) => {
      code = runPlan(file, o, out);
    });

  program
    .command("explain")
    .description("the full reasoning for one link, or for one host pair")
    .argument("<inventory>", "inventory YAML file")
    .argument("<target...>", "a link name, or two host names")
    .option("--json", "machine-readable output")
    .addOption(profilesOpt())
    .action((file: string, targets: string[], o: { json?: boolean; profiles: string[] }) => {
      code = runExplain(file, targets, o, out);
    });

  program
    .command("discover")
    .description("connect to every managed device (rate-limited) and gather the facts the planner uses")
    .argument("<inventory>", "inventory YAML file")
    .option("--json", "machine-readable output")
    .option("--out <file>", "write the facts file for `plan --facts`")
    .option("--known-hosts <file>", "OpenSSH known_hosts to pin host keys (default $LINKCRYPT_KNOWN_HOSTS or ~/.ssh/known_hosts)")
    .option("--accept-new-host-key", "accept and record host keys not seen before (never a changed one)")
    .option("--secrets <file>", "secrets file (mode 0600) for secrets:KEY references")
    .option("--concurrency <n>", "devices in flight at once (default 8)", NUMERIC.concurrency())
    .option("--per-device <n>", "operations in flight per device (default 1)", NUMERIC.perDevice())
    .option(
      "--per-device-interval <ms>",
      "minimum time between operations on one device (a rate limit; default none)",
      NUMERIC.intervalMs(),
    )
    .option("--timeout <seconds>", "connect timeout; commands get three times as long (default 10)", NUMERIC.timeoutS())
    .addOption(limitOpt())
    .addOption(sshConfigOpt())
    .addOption(profilesOpt())
    .action(async (file: string, o: Parameters<typeof runDiscover>[1]) => {
      code = await runDiscover(file, o, out, err);
    });

  program
    .command("apply")
    .description("execute a saved plan: both ends of a link or neither, confirmed commits, a journal (exit 0 none, 2 changed, 1 failed)")
    .argument("<plan>", "plan file from linkcrypt plan --out")
    .option("--inventory <file>", "the inventory the plan was made from (addresses, credential references)")
    .option(
      "--facts <file>",
      "the facts file the plan was made with, if any; apply re-discovers and refuses the plan if it would now differ",
    )
    .option("--no-refresh", "with --facts: trust the facts file instead of re-reading the devices (offline, or already checked)")
    .option("--state <location>", STATE_HELP)
    .option("--state-key <ref>", STATE_KEY_HELP)
    .option("--state-dir <dir>", "older layout: the state in DIR/state.sqlite (a .linkcrypt directory's files are imported once)")
    .option("--dry-run", "stage and diff every change, commit nothing (exit 2 if anything would change)")
    .option(
      "--confirm-timeout <seconds>",
      "devices roll back by themselves unless confirmed within this (default 120)",
      NUMERIC.confirmTimeoutS(),
    )
    .option(
      "--secured-timeout <seconds>",
      "how long to wait for MACsec to report secured on both ends (default 60)",
      NUMERIC.securedTimeoutS(),
    )
    .option("--max-fail-percent <n>", "stop starting new work once this share of targets failed (default 0)", NUMERIC.percent())
    .option("--concurrency <n>", "operations in flight (default 8)", NUMERIC.concurrency())
    .option("--per-device <n>", "operations in flight per device (default 1)", NUMERIC.perDevice())
    .option(
      "--per-device-interval <ms>",
      "minimum time between operations on one device (a rate limit; default none)",
      NUMERIC.intervalMs(),
    )
    .option("--per-site <n>", "operations in flight touching one site (default no limit)", NUMERIC.perSite())
    .option("--secrets <file>", "secrets file (mode 0600) for secrets:KEY references")
    .option("--known-hosts <file>", "OpenSSH known_hosts to pin host keys")
    .option("--lab", "mesh hosts are a linkcrypt lab")
    .option("--json", "machine-readable output")
    .addOption(limitOpt())
    .addOption(batchOpt())
    .addOption(sshConfigOpt())
    .addOption(profilesOpt())
    .action(async (file: string, o: Parameters<typeof runApply>[1]) => {
      code = await runApply(file, o, out, err);
    });

  const keyOpts = (c: Command) =>
    c
      .option("--inventory <file>", "inventory YAML file")
      .option("--state <location>", STATE_HELP)
      .option("--state-key <ref>", STATE_KEY_HELP)
      .option("--state-dir <dir>", "older layout: the state in DIR/state.sqlite (a .linkcrypt directory's files are imported once)")
      .option("--secrets <file>", "secrets file (mode 0600) for secrets:KEY references")
      .option("--known-hosts <file>", "OpenSSH known_hosts to pin host keys")
      .option("--json", "machine-readable output")
      .addOption(limitOpt())
      .addOption(sshConfigOpt())
      .addOption(profilesOpt());
  keyOpts(
    program
      .command("rotate")
      .description("rotate keys without dropping traffic: `rotate link NAME` (MACsec, make-before-break) or `rotate mesh NAME` (PSK roll)")
      .argument("<what>", "link or mesh")
      .argument("<name>", "the link or mesh name")
      .option("--confirm-timeout <seconds>", "confirmed-commit timeout per step (default 120)", NUMERIC.confirmTimeoutS())
      .option("--lab", "mesh hosts are a linkcrypt lab")
      .addOption(batchOpt()),
  ).action(async (what: string, name: string, o: Parameters<typeof runRotate>[2]) => {
    code = await runRotate(what, name, o, out, err);
  });
  const keys = program.command("keys").description("key lifecycle");
  keyOpts(keys.command("status").description("every managed key's age against the policy's maximum lifetime")).action(
    async (o: Parameters<typeof runKeysStatus>[0]) => {
      code = await runKeysStatus(o, out, err);
    },
  );

  program
    .command("verify")
    .description("live state of every link and mesh pair: secured, degraded, unsecured or unknown, with evidence")
    .argument("<inventory>", "inventory YAML file")
    .option("--json", "machine-readable output")
    .option("--out <file>", "save the results for linkcrypt report --verify")
    .option("--facts <file>", "discovered facts the plan should use")
    .option("--secrets <file>", "secrets file (mode 0600) for secrets:KEY references")
    .option("--known-hosts <file>", "OpenSSH known_hosts to pin host keys")
    .addOption(limitOpt())
    .addOption(sshConfigOpt())
    .addOption(profilesOpt())
    .action(async (file: string, o: Parameters<typeof runVerify>[1]) => {
      code = await runVerify(file, o, out);
    });

  program
    .command("report")
    .description("compliance report (PCI DSS 4.0 4.2.1, CNSA, RFC 8221/8247, BSI TR-02102-3) as JSON, Markdown or HTML")
    .argument("<inventory>", "inventory YAML file")
    .option("--format <fmt>", "json, md, html or pdf (default md; pdf through Chromium, needs --out)")
    .option("--json", "the report as JSON (same as --format json)")
    .option("--out <file>", "write the report to a file")
    .option("--verify <file>", "results of linkcrypt verify --out (the same inventory's), for status, evidence and key ages")
    .option("--plan <file>", "the saved plan that was applied (its digest goes in the provenance; default: plan the inventory now)")
    .option(
      "--max-evidence-age <hours>",
      "warn, and assess nothing as in operation, when the verify evidence is older (default 24)",
      NUMERIC.evidenceAgeH(),
    )
    .option("--state <location>", "inventory state: when the plan was applied, last apply failures, MACsec key ages")
    .option("--state-dir <dir>", "state directory (older layout) for the same")
    .option("--state-key <ref>", "key reference for the state store")
    .option("--secrets <file>", "secrets file (mode 0600) for secrets:KEY references")
    .option("--facts <file>", "discovered facts the plan should use")
    .addOption(profilesOpt())
    .action(async (file: string, o: Parameters<typeof runReport>[1]) => {
      code = await runReport(file, o, out, err);
    });

  program
    .command("metrics")
    .description("Prometheus text exposition (or Graphite plaintext): link status, mesh pairs, key ages")
    .argument("<inventory>", "inventory YAML file")
    .option("--verify <file>", "results of linkcrypt verify --out")
    .option("--format <fmt>", "prometheus (default) or graphite")
    .option("--prefix <p>", "Graphite metric prefix (default linkcrypt.INVENTORY)")
    .option("--json", "the samples as JSON: {inventory, samples: [{name, help, type, labels, value}]}")
    .option("--max-evidence-age <hours>", "warn when the verify evidence is older (default 24)", NUMERIC.evidenceAgeH())
    .option(
      "--state <location>",
      "the state store with the key times (MACsec CAKs, state: PSK masters, rotations); default the inventory's state: block",
    )
    .option("--state-key <ref>", STATE_KEY_HELP)
    .option("--secrets <file>", "secrets file (mode 0600) for secrets:KEY references")
    .addOption(profilesOpt())
    .action(async (file: string, o: Parameters<typeof runMetricsWithState>[1]) => {
      code = await runMetricsWithState(file, o, out, err);
    });

  program
    .command("mesh")
    .description("the host IPsec mesh: deliver | verify | repair | status | down | up")
    .argument("<verb>", "deliver, verify, repair, status, down or up")
    .argument("<inventory>", "inventory YAML file")
    .option("--mesh <name>", "which mesh, when the inventory has several")
    .option("--hosts <list>", "comma-separated subset of hosts (down, up, status)")
    .option("--blocking", "wait and verify (default for down and deliver)")
    .option("--no-blocking", "return once requests are sent (negotiation can take minutes)")
    .option("--lab", "the hosts are a linkcrypt lab (libipsec: ESP always UDP-encapsulated)")
    .option("--block", "down: drop member-to-member traffic until `mesh up` (the drop shunts stay)")
    .option("--clear", "down: let members talk UNENCRYPTED until `mesh up`; an exception recorded with --reason")
    .option("--reason <text>", "down --clear: why; recorded with who and when, shown by verify, report and metrics")
    .option("--json", "machine-readable output")
    .option("--known-hosts <file>", "OpenSSH known_hosts to pin host keys")
    .option("--secrets <file>", "secrets file (mode 0600) for secrets:KEY references")
    .option("--state <location>", `${STATE_HELP}; used by deliver and up when the mesh's pskMaster is "state:"`)
    .option("--state-key <ref>", STATE_KEY_HELP)
    .option("--state-dir <dir>", "older layout: the state in DIR/state.sqlite (a .linkcrypt directory's files are imported once)")
    .addOption(limitOpt())
    .addOption(sshConfigOpt())
    .addOption(profilesOpt())
    .action(async (verb: string, file: string, o: Parameters<typeof runMesh>[2]) => {
      code = await runMesh(verb, file, o, out, err);
    });

  program
    .command("lab")
    .description(
      "a real lab: one network namespace and charon per mesh host, or one VM per mesh host with --datapath kernel (up | down | status)",
    )
    .argument("<verb>", "up, down or status")
    .argument("[inventory]", "inventory YAML file (for up)")
    .option("--name <name>", "lab name (default: the inventory's name)")
    .option("--dir <dir>", "lab directory (default /tmp/linkcrypt-lab-NAME); lab down removes only what lab up made in it")
    .option("--recreate", "up: tear down a running lab in --dir and build it again (new ports and keys)")
    .option("--snmp-v2c", "up: the encryptors also answer SNMP v2c (public/private); default SNMPv3 authPriv only")
    .option(
      "--datapath <kind>",
      "up: libipsec (default: namespaces, userspace ESP, tunnel mode) or kernel (QEMU VMs on Debian's 6.12 kernel: real xfrm, transport mode, netdevsim offload)",
    )
    .option("--json", "machine-readable output")
    .addOption(profilesOpt())
    .action(async (verb: string, file: string | undefined, o: Parameters<typeof runLab>[2]) => {
      code = await runLab(verb, file, o, out, err);
    });

  program
    .command("serve")
    .description(
      "run until stopped: watch the mesh hosts' VICI events, verify periodically, repair broken pairs; /metrics, /healthz, /readyz, /api/status and a live status page over HTTP (docs/serve.md)",
    )
    .argument("<inventory>", "inventory YAML file")
    .option("--listen <host:port>", "HTTP address (default 127.0.0.1:9469)")
    .option("--state <location>", `${STATE_HELP}; postgres://… lets several replicas share it, one leading`)
    .option("--state-key <ref>", STATE_KEY_HELP)
    .option("--interval <seconds>", "full verify period, varied by ±10 % (default 60)", NUMERIC.timeoutS())
    .option("--max-attempts <n>", "repair attempts per broken pair, with backoff (default 3)", NUMERIC.perDevice())
    .option(
      "--breaker-share <percent>",
      "stop acting when more than this share of the pairs is broken at once (default 50)",
      NUMERIC.percent(),
    )
    .option(
      "--flap-limit <n>",
      "a host whose event stream drops or whose repairs fail this often within 5 min is left alone (default 3)",
      NUMERIC.perDevice(),
    )
    .option("--refresh <seconds>", "status page refresh period (default 5)", NUMERIC.timeoutS())
    .option("--no-watch", "no VICI event streams: periodic verify only")
    .option(
      "--auto-apply",
      "act on drift and pending plans: apply a changed inventory's plan, re-apply a link whose devices drifted, rotate keys past the policy's age (journaled; default: only report them)",
    )
    .option("--device-interval <seconds>", "check every switch and encryptor this often, ±10 % (default 300)", NUMERIC.timeoutS())
    .option("--concurrency <n>", "device operations in flight (default 8)", NUMERIC.concurrency())
    .option("--per-device <n>", "operations in flight per device (default 1)", NUMERIC.perDevice())
    .option("--per-device-interval <ms>", "minimum time between operations on one device (default none)", NUMERIC.intervalMs())
    .option("--lean-above <hosts>", "meshes with more hosts are verified by the lean batched sweep (default 200)", NUMERIC.perSite())
    .option("--sweep-batch <n>", "hosts read at once by the lean sweep (default 8)", NUMERIC.perDevice())
    .option("--lab", "the mesh hosts are a linkcrypt lab (libipsec): what --auto-apply delivers is rendered for it")
    .option("--log-format <fmt>", "json or text (default: json unless stdout is a terminal)")
    .option("--facts <file>", "discovered facts the plan should use")
    .option("--secrets <file>", "secrets file (mode 0600) for secrets:KEY references")
    .option("--known-hosts <file>", "OpenSSH known_hosts to pin host keys")
    .addOption(sshConfigOpt())
    .addOption(profilesOpt())
    .action(async (file: string, o: Parameters<typeof runServe>[1]) => {
      code = await runServe(file, o, out, err);
    });

  program
    .command("mtu")
    .description("ESP / MACsec / VXLAN overhead and MTU calculator")
    .option("--path-mtu <bytes>", "MTU of the path (with --macsec: of the MACsec port)")
    .option("--ip <4|6>", "IP version (default 4)")
    .option("--mode <transport|tunnel>", "ESP mode (default transport)")
    .option("--cipher <name>", "ESP cipher, e.g. aes-gcm-128, aes-cbc-256-sha512, or a strongSwan name like aes128gcm16")
    .option("--nat-t", "UDP-encapsulated ESP (NAT traversal)")
    .option("--macsec <sci|nosci>", "the path is a MACsec port, with or without the SCI")
    .option("--vxlan", "VXLAN carried inside the ESP")
    .option("--inner <bytes>", "also size this inner packet")
    .option("--json", "print {overheadBytes, maxInnerMtu, outerBytes}")
    .action((o: Record<string, unknown>) => {
      code = runMtu(o, out);
    });

  program
    .command("schema")
    .description("print the inventory JSON Schema")
    .option("--out <file>", "write it to a file")
    .action((o: { out?: string }) => {
      code = runSchema(o, out);
    });

  program
    .command("completion")
    .description("print a shell completion script (bash or zsh) for the verbs and options")
    .argument("<shell>", "bash or zsh")
    .action((shell: string) => {
      out.write(completionScript(program, shell));
    });

  addExamples(program);
  // A bare `linkcrypt` is a usage mistake (EX_USAGE), not a request for help: the help goes to stderr.
  if (argv.length === 0) {
    program.outputHelp({ error: true });
    return EXIT.usage;
  }

  try {
    await program.parseAsync(argv, { from: "user" });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") return EXIT.ok;
      return EXIT.usage;
    }
    if (e instanceof LinkcryptError) {
      err.write(`linkcrypt: ${safeText(e.message)}\n`);
      // Scripts that asked for --json get the error as JSON on stdout too, with the same exit code.
      if (argv.includes("--json"))
        out.write(
          `${JSON.stringify({ error: { code: e.code, message: e.message, ...(e.device ? { device: e.device } : {}), ...(e.operation ? { operation: e.operation } : {}) } })}\n`,
        );
      return e instanceof UsageError ? EXIT.usage : EXIT.problems;
    }
    err.write(
      `linkcrypt: internal error: ${safeText(String((e as Error)?.message ?? e))}\n(this is a bug; run with LINKCRYPT_DEBUG=1 for the stack trace)\n`,
    );
    if (process.env.LINKCRYPT_DEBUG) err.write(`${(e as Error).stack}\n`);
    return EXIT.internal;
  }
}
