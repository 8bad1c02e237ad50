import { describe, expect, it } from "vitest";
import { outboundProtection, parseXfrmPolicies } from "../../drivers/linux-host/parsers/xfrm-policy.js";

// Shape captured from the kernel lab (iproute2 6.1, Linux 6.12, strongSwan 5.9.8): an ESP policy, a drop shunt and
// charon's per-socket bypasses, which must never be mistaken for an `out` policy.
const CAPTURE = `src 10.77.0.13/32 dst 10.77.0.14/32 
	dir out priority 367231 ptype main 
	tmpl src 0.0.0.0 dst 0.0.0.0
		proto esp spi 0xca18d995 reqid 1 mode transport
src 10.77.0.14/32 dst 10.77.0.13/32 
	dir in priority 367231 ptype main 
	tmpl src 0.0.0.0 dst 0.0.0.0
		proto esp reqid 1 mode transport
src 10.77.0.13/32 dst 10.77.0.11/32 
	dir out action block priority 2000000 ptype main 
src 0.0.0.0/0 dst 0.0.0.0/0 
	socket in priority 0 ptype main 
src 0.0.0.0/0 dst 0.0.0.0/0 
	socket out priority 0 ptype main 
`;

describe("drivers: linux-host xfrm-policy", () => {
  it("parses ESP, drop and socket policies", () => {
    const p = parseXfrmPolicies(CAPTURE);
    expect(p.map((x) => [x.dir, x.action, x.priority, x.tmpl.join()])).toEqual([
      ["out", "allow", 367231, "esp"],
      ["in", "allow", 367231, "esp"],
      ["out", "block", 2000000, ""],
      ["socket", "allow", 0, ""],
      ["socket", "allow", 0, ""],
    ]);
  });

  it("the lowest priority value wins: ESP over the lower-ranked drop shunt, drop where no ESP policy is left, none elsewhere", () => {
    const p = parseXfrmPolicies(CAPTURE);
    expect(outboundProtection(p, "10.77.0.13", "10.77.0.14").protection).toBe("esp");
    expect(outboundProtection(p, "10.77.0.13", "10.77.0.11").protection).toBe("block");
    expect(outboundProtection(p, "10.77.0.13", "10.77.0.99").protection).toBe("none");
    const both = parseXfrmPolicies(
      `${CAPTURE}src 10.77.0.13/32 dst 10.77.0.11/32 \n\tdir out priority 367231 ptype main \n\ttmpl src 0.0.0.0 dst 0.0.0.0\n\t\tproto esp reqid 2 mode transport\n`,
    );
    expect(outboundProtection(both, "10.77.0.13", "10.77.0.11")).toEqual({ protection: "esp", priority: 367231 });
  });

  it("a broader bypass (allow without a template) means cleartext", () => {
    const p = parseXfrmPolicies("src 10.77.0.0/24 dst 10.77.0.0/24 \n\tdir out priority 100 ptype main \n");
    expect(outboundProtection(p, "10.77.0.13", "10.77.0.14").protection).toBe("none");
  });
});
