#!/usr/bin/env node
// snmpd pass_persist agent playing a layer-1 encryptor for the linkcrypt lab. State lives in $L1_STATE (JSON).
// Objects under BASE (netSnmpPlaypen, experimental space): .1 status (1 secure, 2 bypass, 3 alarm; follows admin
// mode), .2 cipher (RW), .3 key age seconds (Gauge32), .4 rotation interval (RW, 60..604800), .5 admin mode (RW,
// 1 secure 2 bypass), .6 rotate-now (write 1), .7 key generation (Counter32), .8 frames encrypted (Counter64),
// .9 peer id (RW). Each is a scalar (.N.0).
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";

const BASE = ".1.3.6.1.4.1.8072.9999.9999.1";
const STATE = process.env.L1_STATE ?? "/tmp/l1-state.json";
const CIPHERS = ["AES-256-GCM", "AES-256-CTR", "AES-128-GCM"];
const started = Date.now();

function load() {
  try {
    return JSON.parse(readFileSync(STATE, "utf8"));
  } catch {
    const s = { cipher: "AES-256-GCM", interval: 86400, admin: 1, rotatedAt: Date.now(), generation: 1, peer: "l1enc-b" };
    save(s);
    return s;
  }
}
function save(s) {
  writeFileSync(`${STATE}.new`, JSON.stringify(s));
  renameSync(`${STATE}.new`, STATE);
}
function objects(s) {
  return new Map([
    [1, ["integer", s.admin === 1 ? 1 : 2]],
    [2, ["string", s.cipher]],
    [3, ["gauge", Math.floor((Date.now() - s.rotatedAt) / 1000)]],
    [4, ["integer", s.interval]],
    [5, ["integer", s.admin]],
    [6, ["integer", 0]],
    [7, ["counter", s.generation % 2 ** 32]],
    [8, ["counter64", Date.now() - started]],
    [9, ["string", s.peer]],
  ]);
}
const idOf = (oid) => {
  const m = oid.startsWith(`${BASE}.`) && /^(\d+)\.0$/.exec(oid.slice(BASE.length + 1));
  return m ? Number(m[1]) : undefined;
};
const cmpOid = (a, b) => {
  const x = a.split(".").filter(Boolean).map(Number),
    y = b.split(".").filter(Boolean).map(Number);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
};
function set(s, id, type, raw) {
  if (![2, 4, 5, 6, 9].includes(id)) return "not-writable";
  if ([4, 5, 6].includes(id)) {
    if (type !== "integer") return "wrong-type";
    const v = Number(raw);
    if (id === 4) {
      if (v < 60 || v > 604800) return "wrong-value";
      s.interval = v;
    }
    if (id === 5) {
      if (v !== 1 && v !== 2) return "wrong-value";
      s.admin = v;
    }
    if (id === 6) {
      if (v !== 1) return "wrong-value";
      s.rotatedAt = Date.now();
      s.generation++;
    }
  } else {
    if (type !== "string" && type !== "octet") return "wrong-type";
    let v = raw.trim().replace(/^"(.*)"$/, "$1");
    if (type === "octet") v = Buffer.from(v.replace(/[^0-9a-fA-F]/g, ""), "hex").toString();
    if (id === 2) {
      if (!CIPHERS.includes(v)) return "wrong-value";
      s.cipher = v;
    } else s.peer = v;
  }
  save(s);
  return "DONE";
}

const lines = createInterface({ input: process.stdin });
const it = lines[Symbol.asyncIterator]();
const next = async () => (await it.next()).value ?? null;
const out = (...l) => process.stdout.write(`${l.join("\n")}\n`);
for (;;) {
  const cmd = await next();
  if (cmd === null) break;
  const c = cmd.trim();
  if (c === "PING") {
    out("PONG");
    continue;
  }
  if (c !== "get" && c !== "getnext" && c !== "set") {
    if (c) out("NONE");
    continue;
  }
  let oid = (await next())?.trim() ?? "";
  const s = load();
  const objs = objects(s);
  if (c === "set") {
    const [type, ...rest] = ((await next()) ?? "").split(" ");
    const id = idOf(oid);
    out(id === undefined || !objs.has(id) ? "not-writable" : set(s, id, type, rest.join(" ")));
    continue;
  }
  if (c === "getnext") {
    oid = [...objs.keys()]
      .map((k) => `${BASE}.${k}.0`)
      .sort(cmpOid)
      .find((o) => cmpOid(o, oid) > 0);
    if (!oid) {
      out("NONE");
      continue;
    }
  }
  const id = idOf(oid);
  if (id === undefined || !objs.has(id)) {
    out("NONE");
    continue;
  }
  const [type, value] = objs.get(id);
  out(oid, type, String(value));
}
