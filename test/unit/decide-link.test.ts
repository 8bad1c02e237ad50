import { describe, expect, it } from "vitest";
import { host, messages, plan, port, twoSite } from "../helpers.js";

const enc = (name: string, site: string, profile = "thales-cn9120") => ({ name, kind: "l1-encryptor", site, profile });

describe("planner: decide-link", () => {
  it("uses L1 when both ends have compatible encryptors", () => {
    const p = plan(
      twoSite({ encryptors: ["a-enc", "b-enc"] }, { devices: [...(twoSite().devices as object[]), enc("a-enc", "a"), enc("b-enc", "b")] }),
    );
    expect(p.links[0]!.method).toBe("l1");
    expect(p.links[0]!.cipher).toBe("AES-256-GCM");
    expect(p.links[0]!.mtu.overheadBytes).toBe(0);
  });

  it("does not use L1 across encryptor families", () => {
    const p = plan(
      twoSite(
        { encryptors: ["a-enc", "b-enc"] },
        { devices: [...(twoSite().devices as object[]), enc("a-enc", "a"), enc("b-enc", "b", "adva-fsp3000-pcn-aes100gb")] },
      ),
    );
    expect(p.links[0]!.method).toBe("macsec");
    expect(p.links[0]!.candidates.find((c) => c.method === "l1")!.detail).toMatch(/do not interoperate/);
  });

  it("does not use an encryptor slower than the link", () => {
    const p = plan(
      twoSite(
        { encryptors: ["a-enc", "b-enc"] },
        { devices: [...(twoSite().devices as object[]), enc("a-enc", "a", "thales-cn6140"), enc("b-enc", "b", "thales-cn6140")] },
      ),
    );
    expect(p.links[0]!.candidates.find((c) => c.method === "l1")!.detail).toMatch(/up to 10G; the link is 100G/);
  });

  it("needs certified encryptors under CNSA", () => {
    const p = plan(
      twoSite(
        { encryptors: ["a-enc", "b-enc"] },
        {
          policy: "cnsa-1",
          devices: [...(twoSite().devices as object[]), enc("a-enc", "a", "acme-lx100"), enc("b-enc", "b", "acme-lx100")],
        },
      ),
    );
    expect(p.links[0]!.candidates.find((c) => c.method === "l1")!.detail).toMatch(/needs certified hardware/);
  });

  it("uses an XPN suite at 100G and explains packet-number exhaustion", () => {
    const l = plan(twoSite()).links[0]!;
    expect(l.method).toBe("macsec");
    expect(l.cipher).toBe("GCM-AES-XPN-256");
    expect(l.reasons.join(" ")).toMatch(/exhausted in 28\.9 s/);
    expect(l.mtu.overheadBytes).toBe(32);
  });

  it("uses a non-XPN suite below 40G when the policy prefers it", () => {
    const t = twoSite({ speed: "10G" });
    const l = plan({ ...t, policy: "cnsa-1" }).links[0]!;
    expect(l.cipher).toBe("GCM-AES-XPN-256"); // CNSA lists XPN-256 first
    const l2 = plan(twoSite({ speed: "10G", macsecSuite: "GCM-AES-256" })).links[0]!;
    expect(l2.cipher).toBe("GCM-AES-256");
  });

  it("refuses a pinned non-XPN suite at 40G and above", () => {
    const p = plan(twoSite({ speed: "40G", macsecSuite: "GCM-AES-256", method: "macsec" }));
    expect(p.links[0]!.method).toBe("refused");
    expect(messages(p.diagnostics, "error").join()).toMatch(/not XPN, which is refused at 40G/);
  });

  it("falls back from MACsec when the provider filters EAPOL, and refuses when nothing else fits an untrusted medium", () => {
    const p = plan(twoSite({ medium: "provider-l2", eapolPassthrough: false }));
    expect(p.links[0]!.method).toBe("refused");
    expect(p.links[0]!.reasons.join()).toMatch(/filters EAPOL/);
    expect(p.diagnostics.some((d) => d.code === "link.refused")).toBe(true);
  });

  it("does not assume EAPOL passes when the circuit does not say", () => {
    const l = plan(twoSite({ medium: "provider-l2" })).links[0]!;
    expect(l.candidates.find((c) => c.method === "macsec")!.detail).toMatch(/does not state eapolPassthrough/);
  });

  it("uses MACsec on a provider circuit that passes EAPOL", () => {
    expect(plan(twoSite({ medium: "provider-l2", eapolPassthrough: true })).links[0]!.method).toBe("macsec");
  });

  it("never uses MACsec over routed media", () => {
    for (const medium of ["provider-l3", "internet", "lan"]) {
      const l = plan(twoSite({ medium })).links[0]!;
      expect(l.method).not.toBe("macsec");
    }
  });

  it("falls back to the host mesh when no hardware can encrypt", () => {
    const base = twoSite({ medium: "internet", pathMtu: 1500 });
    const inv = {
      ...base,
      devices: [...(base.devices as object[]), host("a-h1", "a", "virtio-net"), host("b-h1", "b", "virtio-net")],
      meshes: [{ name: "m", members: { roles: ["app"] }, mode: "tunnel" }],
    };
    (inv.devices as { ports?: { mtu: number }[] }[]).forEach((d) => d.ports?.forEach((p) => (p.mtu = 1500)));
    const l = plan(inv).links[0]!;
    expect(l.method).toBe("host-mesh");
    expect(l.mesh).toBe("m");
    // budgeted for the cipher the pair uses (AES-GCM-16, RFC 4106), not the policy's worst: tunnel over IPv4,
    // 1500 - 20 (outer IP) - 8 (SPI+seq) - 8 (IV) - 16 (ICV) = 1448 encrypted bytes (a multiple of 4) - 2 trailer = 1446
    expect(l.cipher).toBe("aes-gcm-256");
    expect(l.mtu.maxInnerMtu).toBe(1446);
  });

  it("leaves a link unencrypted only where the policy trusts its medium", () => {
    const t = twoSite({ medium: "dark-fibre" }, { policy: "pci-dss-4" }, "arista-7050cx3-32s");
    (t.links as object[])[0] = { ...(t.links as object[])[0]!, a: "a-sw:Ethernet1", b: "b-sw:Ethernet1" };
    const p = plan(t);
    expect(p.links[0]!.method).toBe("none");
    expect(p.diagnostics.some((d) => d.code === "link.unencrypted" && d.severity === "warning")).toBe(true);
    const t2 = { ...t, policy: "default" };
    expect(plan(t2).links[0]!.method).toBe("refused");
  });

  it("flags a port MTU that does not fit through MACsec and says what would", () => {
    const t = twoSite();
    (t.devices as { ports: { mtu: number }[] }[])[0]!.ports[0]!.mtu = 9200;
    const p = plan(t);
    // PTX max frame 9216: 9216 - 14 (Ethernet) - 32 (MACsec with SCI) = 9170
    expect(messages(p.diagnostics, "error").join()).toMatch(/mtu 9200, but only 9170 fits through macsec.*set mtu 9170/);
  });

  it("omits the SCI when asked and both ports allow it (24 bytes)", () => {
    expect(plan(twoSite({ macsecOmitSci: true })).links[0]!.mtu.overheadBytes).toBe(24);
  });

  it("keeps the SCI on hardware that always sends it", () => {
    const t = twoSite({ a: "a-sw:HundredGigE0/0/0/0", b: "b-sw:HundredGigE0/0/0/0", macsecOmitSci: true }, {}, "cisco-ncs-55a2-mod-se-s");
    (t.devices as { ports: object[] }[]).forEach((d) => d.ports.push(port("HundredGigE0/0/0/0")));
    const l = plan(t).links[0]!;
    expect(l.mtu.overheadBytes).toBe(32);
    expect(l.reasons.join()).toMatch(/SCI kept/);
  });

  it("respects a pinned method the policy allows", () => {
    const t = twoSite({ method: "host-mesh" });
    expect(plan(t).links[0]!.method).toBe("refused"); // no mesh covers both sites
  });
});
