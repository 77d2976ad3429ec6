import assert from "node:assert/strict";
import { object, str } from "../../proto/schema.ts";
import { startTestNode, testPki } from "../../lib/transport/testing.ts";

Deno.test("rpc: a call whose deadline is spent before the dial settles leaves no unhandled rejection", async () => {
  const pki = await testPki();
  const messages = { "t.echo": object({ s: str(8) }), "t.echo.reply": object({ s: str(8) }) };
  const cli = await startTestNode({
    kind: "tcp",
    identity: await pki.identity("cli"),
    messages,
    listen: false,
  });
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close(); // nothing listens there any more: the dial is refused
  cli.rpc.addPeer("ghost", { hostname: "127.0.0.1", port });
  await assert.rejects(cli.rpc.call("ghost", "t.echo", { s: "x" }, { deadlineMs: 0 }));
  await new Promise((r) => setTimeout(r, 200)); // the refused dial settles here, unobserved
  await cli.rpc.close();
});
