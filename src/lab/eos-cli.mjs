#!/usr/bin/env node
// linkcrypt lab stand-in for an Arista EOS CLI, run by sshd's ForceCommand. NOT EOS: it plays the documented
// behaviour that the eos-macsec driver relies on, so the driver's SSH transaction can be exercised end to end:
//   enable, show version | json, show mac security interface detail | json, configure session S ... end,
//   show session-config named S diffs, commit timer HH:MM:SS (auto-rollback), configure session S commit|abort.
// A login starts in unprivileged EXEC (like an EOS account without exec authorization): configure session needs
// `enable` first. The status reply has the field set of public `show mac security interface detail | json` samples.
// Configuration is held as "path lines" (parent contexts joined by " / ") in $EOS_STATE (JSON).
import { readFileSync, writeFileSync } from "node:fs";

const STATE = process.env.EOS_STATE;
const load = () => {
  try {
    return JSON.parse(readFileSync(STATE, "utf8"));
  } catch {
    return { running: [], sessions: {}, linkUp: true };
  }
};
const save = (s) => writeFileSync(STATE, JSON.stringify(s));
const out = [];
const say = (l) => out.push(l);

const state = load();
// Commit timers that ran out roll their session back.
for (const [name, sess] of Object.entries(state.sessions)) {
  if (sess.committedAt && Date.now() > sess.committedAt + sess.timerS * 1000) {
    state.running = sess.before;
    delete state.sessions[name];
  }
}

const leafKey = (path) => {
  const parts = path.split(" / ");
  const leaf = parts.pop().split(" ");
  const k = leaf[0] === "key" ? leaf.slice(0, 2) : leaf.length > 1 ? leaf.slice(0, -1) : leaf;
  return [...parts, k.join(" ")].join(" / ");
};
const apply = (config, paths) => {
  const next = config.filter((l) => !paths.some((p) => leafKey(p) === leafKey(l) && p.split(" / ").length === l.split(" / ").length));
  return [...new Set([...next, ...paths])].sort();
};

const input = readFileSync(0, "utf8").split("\n");
let session = null;
let ctx = [];
let privileged = process.env.EOS_PRIVILEGED === "1";
for (const raw of input) {
  const line = raw.replace(/\s+$/, "");
  if (!line.trim()) continue;
  const cmd = line.trim();
  if (cmd === "exit" && !session) break;
  if (session) {
    if (cmd === "end" || cmd === "exit") {
      session = null;
      ctx = [];
      continue;
    }
    const m = /^commit timer (\d\d):(\d\d):(\d\d)$/.exec(cmd);
    if (m) {
      const sess = state.sessions[session];
      sess.before = state.running;
      sess.timerS = +m[1] * 3600 + +m[2] * 60 + +m[3];
      sess.committedAt = Date.now();
      state.running = sess.candidate;
      session = null;
      continue;
    }
    const depth = (line.length - line.trimStart().length) / 3;
    if (!Number.isInteger(depth) || depth > ctx.length) {
      say(`% Invalid input (indentation) at '${cmd}'`);
      continue;
    }
    ctx = ctx.slice(0, depth);
    if (depth === 0 && !/^(mac security|interface \S+)$/.test(cmd)) {
      say(`% Invalid input at '${cmd}'`);
      continue;
    }
    if (/^cipher /.test(cmd) && !/^cipher (aes128-gcm|aes256-gcm|aes128-gcm-xpn|aes256-gcm-xpn)$/.test(cmd)) {
      say(`% Invalid input at '${cmd}'`);
      continue;
    }
    const sess = state.sessions[session];
    if (cmd.startsWith("no ")) {
      // `no <words>` removes every statement at this level that starts with those words (and what is under it);
      // it opens no context. Removing what is not there is not an error.
      const gone = [...ctx, cmd.slice(3)].join(" / ");
      sess.candidate = sess.candidate.filter((l) => l !== gone && !l.startsWith(gone + " ") && !l.startsWith(gone + " / "));
      continue;
    }
    const path = [...ctx, cmd].join(" / ");
    sess.candidate = apply(sess.candidate, [path]);
    ctx.push(cmd);
    continue;
  }
  let m;
  if (cmd === "enable") {
    privileged = true;
    continue;
  }
  if (/^configure/.test(cmd) && !privileged) {
    say(`% Invalid input (privileged mode required)`);
    continue;
  }
  if ((m = /^configure session (\S+)(?: (commit|abort))?$/.exec(cmd))) {
    const [, name, verb] = m;
    const sess = state.sessions[name];
    if (verb === "commit") {
      if (!sess?.committedAt) say(`% No pending commit timer for session ${name}`);
      else delete state.sessions[name];
    } else if (verb === "abort") {
      if (!sess) say(`% Session ${name} does not exist`);
      else {
        if (sess.committedAt) state.running = sess.before;
        delete state.sessions[name];
      }
    } else {
      state.sessions[name] ??= { candidate: [...state.running] };
      session = name;
      ctx = [];
    }
  } else if ((m = /^show session-config named (\S+) diffs$/.exec(cmd))) {
    const sess = state.sessions[m[1]];
    if (!sess) {
      say(`% Session ${m[1]} does not exist`);
      continue;
    }
    for (const l of state.running.filter((x) => !sess.candidate.includes(x))) say(`- ${l}`);
    for (const l of sess.candidate.filter((x) => !state.running.includes(x))) say(`+ ${l}`);
  } else if (cmd === "show version | json") {
    say(JSON.stringify({ modelName: "linkcrypt-lab-eos-standin", version: "lab" }));
  } else if (cmd === "show mac security interface detail | json") {
    const interfaces = {};
    let portId = 0;
    for (const l of state.running) {
      const b = /^interface (\S+) \/ mac security profile (\S+)$/.exec(l);
      if (!b) continue;
      portId++;
      const cipher = state.running.find((x) => x.startsWith(`mac security / profile ${b[2]} / cipher `));
      const key = state.running.find((x) => x.startsWith(`mac security / profile ${b[2]} / key `) && !x.endsWith(" fallback"));
      const secured = Boolean(state.linkUp && key && cipher);
      // Lab values: the key message id stands for the key server's MKA member id (here: from the primary CKN).
      const msgId = secured ? key.split(" ")[7].slice(0, 24).padEnd(24, "0") : "";
      const priority = Number(
        state.running
          .find((x) => x.startsWith(`mac security / profile ${b[2]} / mka key-server priority `))
          ?.split(" ")
          .pop() ?? 16,
      );
      interfaces[b[1]] = {
        portId,
        details: {
          keyServerPriority: priority,
          latestKeyMsgId: msgId,
          latestKeyReceiving: secured,
          latestKeyTransmitting: secured,
          latestKeyMsgNum: secured ? 1 : 0,
          ...(secured ? { traffic: "Protected" } : {}),
        },
        address: `02:1c:73:00:00:${String(portId).padStart(2, "0")}`,
        controlledPort: secured,
        keyNum: secured ? 1 : 0,
        keyMsgId: msgId,
      };
    }
    say(JSON.stringify({ interfaces }));
  } else if (cmd === "show running-config section mac security") {
    for (const l of state.running) say(l);
  } else {
    say(`% Invalid input at '${cmd}'`);
  }
}
save(state);
process.stdout.write(out.length ? `${out.join("\n")}\n` : "");
