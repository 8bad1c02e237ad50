import { describe, expect, it } from "vitest";
import { espCipher, ESP_CIPHER_IDS, type EspCipherId } from "../../src/crypto/esp-ciphers.js";
import { budget, maxInnerSize, outerSize, type Layer } from "../../src/planner/mtu-budget.js";

const esp = (id: EspCipherId, mode: "transport" | "tunnel", family: 4 | 6 = 4, natT = false): Layer => ({
  kind: "esp",
  cipher: espCipher(id),
  mode,
  family,
  natT,
});

// Expected values are worked by hand from RFC 4303 §2 (SPI 4 + seq 4 + IV + ciphertext(payload + pad + 2) + ICV),
// RFC 4106 (GCM: IV 8, ICV 16, 4-byte alignment), RFC 3602 (CBC: IV 16, 16-byte blocks), RFC 4868 (HMAC-SHA2-256-128
// ICV 16, -512-256 ICV 32), RFC 2404 (HMAC-SHA1-96 ICV 12), RFC 3948 (NAT-T UDP 8), IPv4 header 20, IPv6 header 40.
describe("planner: mtu-budget", () => {
  it.each([
    // GCM transport v4, 1500: room for ciphertext 1500-20-8-8-16 = 1448 (multiple of 4) -> payload 1446 -> inner 1466
    ["aes-gcm-128", "transport", 4, false, 1500, 1466],
    // GCM tunnel v4: 1500-20-8-8-16 = 1448 -> inner 1446
    ["aes-gcm-128", "tunnel", 4, false, 1500, 1446],
    // + NAT-T: 1440 -> 1438
    ["aes-gcm-256", "tunnel", 4, true, 1500, 1438],
    // GCM tunnel v6: 1500-40-8-8-16 = 1428 -> 1426
    ["aes-gcm-128", "tunnel", 6, false, 1500, 1426],
    // CBC+SHA256 tunnel v4: 1500-20-8-16-16 = 1440 (multiple of 16) -> 1438
    ["aes-cbc-256-sha256", "tunnel", 4, false, 1500, 1438],
    // CBC+SHA256 tunnel v6: 1500-40-8-16-16 = 1420 -> 1408 -> 1406
    ["aes-cbc-256-sha256", "tunnel", 6, false, 1500, 1406],
    // CBC+SHA1-96 transport v4: 1500-20-8-16-12 = 1444 -> 1440 -> payload 1438 -> inner 1458
    ["aes-cbc-128-sha1", "transport", 4, false, 1500, 1458],
    // ChaCha20-Poly1305 has GCM's sizes (RFC 7634): 1466
    ["chacha20-poly1305", "transport", 4, false, 1500, 1466],
    ["aes-gcm-128", "transport", 4, false, 9000, 8966],
    ["aes-gcm-128", "tunnel", 4, false, 9000, 8946],
    ["aes-gcm-128", "tunnel", 4, true, 9000, 8938],
    ["aes-gcm-128", "tunnel", 6, false, 9000, 8926],
    ["aes-cbc-256-sha256", "tunnel", 4, false, 9000, 8926],
    ["aes-cbc-256-sha256", "tunnel", 6, false, 9000, 8910],
  ] as const)("%s %s IPv%i NAT-T=%s over %i fits %i", (id, mode, fam, natT, path, want) => {
    expect(maxInnerSize([esp(id, mode, fam, natT)], path)).toBe(want);
  });

  it.each([
    // 1450 GCM transport: payload 1430+2 = 1432 (mult of 4) -> 20+8+8+1432+16 = 1484
    ["aes-gcm-128", "transport", 1484],
    // tunnel: 1452 -> 20+8+8+1452+16 = 1504
    ["aes-gcm-128", "tunnel", 1504],
    // CBC-SHA256 transport: 1432 -> 1440; 20+8+16+1440+16 = 1500
    ["aes-cbc-256-sha256", "transport", 1500],
    // CBC-SHA256 tunnel: 1452 -> 1456; 20+8+16+1456+16 = 1516
    ["aes-cbc-256-sha256", "tunnel", 1516],
    // CBC with a 32-byte ICV (HMAC-SHA2-512-256): 20+8+16+1440+32 = 1516 and 20+8+16+1456+32 = 1532
    ["aes-cbc-256-sha512", "transport", 1516],
    ["aes-cbc-256-sha512", "tunnel", 1532],
  ] as const)("a 1450-byte packet under %s %s becomes %i bytes", (id, mode, want) => {
    expect(outerSize([esp(id, mode)], 1450).outer).toBe(want);
  });

  it("MACsec costs 32 bytes with the SCI and 24 without (SecTAG 16/8 + ICV 16)", () => {
    expect(budget([{ kind: "macsec", sci: true }], 1500, 4).maxInnerMtu).toBe(1468);
    expect(budget([{ kind: "macsec", sci: false }], 1500, 4).maxInnerMtu).toBe(1476);
  });

  it("ESP rides inside MACsec: 1500 - 32 = 1468 for ESP, then GCM transport leaves 1434", () => {
    // 1468-20-8-8-16 = 1416 -> payload 1414 -> inner 1434
    const stack: Layer[] = [esp("aes-gcm-128", "transport"), { kind: "macsec", sci: true }];
    const b = budget(stack, 1500, 4);
    expect(b.maxInnerMtu).toBe(1434);
    expect(b.overheadBytes).toBe(66);
  });

  it("VXLAN adds 50 bytes over IPv4 and 70 over IPv6 (RFC 7348: IP + UDP 8 + VXLAN 8 + Ethernet 14)", () => {
    expect(budget([{ kind: "vxlan", family: 4 }], 1500, 4).overheadBytes).toBe(50);
    expect(budget([{ kind: "vxlan", family: 6 }], 1500, 6).overheadBytes).toBe(70);
  });

  it("MSS clamp leaves room for the IP and TCP headers", () => {
    expect(budget([esp("aes-gcm-128", "transport")], 1500, 4).mssClamp).toBe(1466 - 40);
    expect(budget([esp("aes-gcm-128", "transport", 6)], 1500, 6).mssClamp).toBe(1466 - 60);
  });

  it("the inversion is exact: maxInner fits and one byte more does not, for every cipher and mode", () => {
    for (const id of ESP_CIPHER_IDS)
      for (const mode of ["transport", "tunnel"] as const)
        for (const fam of [4, 6] as const)
          for (const natT of [false, true])
            for (const macsec of [undefined, true, false])
              for (let path = 1280; path <= 1540; path += 7) {
                const stack: Layer[] = [
                  esp(id, mode, fam, natT),
                  ...(macsec === undefined ? [] : [{ kind: "macsec", sci: macsec } as const]),
                ];
                const n = maxInnerSize(stack, path);
                expect(outerSize(stack, n).outer).toBeLessThanOrEqual(path);
                expect(outerSize(stack, n + 1).outer).toBeGreaterThan(path);
              }
  });
});
