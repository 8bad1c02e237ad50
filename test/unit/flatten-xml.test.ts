import { describe, expect, it } from "vitest";
import { flattenXml } from "../../src/render/flatten-xml.js";
import { lineDiff } from "../../src/util/line-diff.js";
import { parseXml } from "../../src/transport/netconf/xml.js";

describe("render: configuration diffs", () => {
  it("keys list entries by their first leaf, never OpenConfig config/state containers, and masks secrets", async () => {
    const x = await parseXml(
      "<data><keychains><keychain><name>kc</name><config><name>kc</name></config><keys><key><key-id>0a</key-id>" +
        "<config><key-id>0a</key-id><secret-key>s3cr3t</secret-key></config></key></keys></keychain></keychains></data>",
    );
    const lines = flattenXml(x.data, new Set(["secret-key"]));
    expect(lines).toEqual([
      "/keychains/keychain[kc]/config/name = kc",
      "/keychains/keychain[kc]/keys/key[0a]/config/key-id = 0a",
      "/keychains/keychain[kc]/keys/key[0a]/config/secret-key = <secret>",
      "/keychains/keychain[kc]/keys/key[0a]/key-id = 0a",
      "/keychains/keychain[kc]/name = kc",
    ]);
    expect(lineDiff(lines, lines.slice(1))).toEqual(["- /keychains/keychain[kc]/config/name = kc"]);
  });
});
