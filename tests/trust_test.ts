/**
 * Trust only what is trusted (issue 16), end to end over loopback: the
 * client address behind trusted proxies (finding 10).
 */
import { deepEqual, equal } from "node:assert/strict";
import { createRouter, type Router, type RouterOptions } from "../router/create_router.ts";
import {
  type ReverseHandler,
  type ReverseServer,
  serveReverse,
  type ServeReverseOptions,
} from "../backend/serve_reverse.ts";
import { withTimeout } from "./_helpers.ts";

function router(options: RouterOptions = {}): Router {
  return createRouter({
    hostname: "127.0.0.1",
    port: 0,
    tunnelPort: 0,
    quiet: true,
    tunnelWait: 0,
    ...options,
  });
}

async function backend(
  r: Router,
  handler: ReverseHandler,
  options: ServeReverseOptions = {},
): Promise<ReverseServer> {
  const server = serveReverse({
    hostname: "127.0.0.1",
    port: r.tunnelAddr.port,
    quiet: true,
    ...options,
  }, handler);
  await withTimeout(server.connected, 5000, "tunnel");
  return server;
}

// ---- finding 10: the client address behind trusted proxies ----------------------------------

/** A backend that tells what it saw of the client. */
function echoClient(request: Request, info: { remoteAddr: Deno.NetAddr }): Response {
  return Response.json({
    remoteAddr: info.remoteAddr.hostname,
    xff: request.headers.get("x-forwarded-for"),
    forwarded: request.headers.get("forwarded"),
  });
}

async function seenBy(r: Router, fields: Record<string, string>) {
  const response = await fetch(`http://127.0.0.1:${r.addr.port}/`, { headers: fields });
  equal(response.status, 200);
  return await response.json();
}

Deno.test("behind a trusted balancer the backend's remoteAddr is the rightmost untrusted X-Forwarded-For entry", async () => {
  // The router's peer (127.0.0.1) is the balancer: it appended the client's
  // address, 203.0.113.9, to the 6.6.6.6 the client wrote itself.
  await using r = router({ trustedProxies: ["127.0.0.0/8"] });
  await using _ = await backend(r, echoClient);
  deepEqual(await seenBy(r, { "x-forwarded-for": "6.6.6.6, 203.0.113.9" }), {
    remoteAddr: "203.0.113.9",
    xff: "203.0.113.9, 127.0.0.1",
    forwarded: null,
  });
});

Deno.test("X-Forwarded-For: trusted hops are skipped from the right; an entry that is no address ends the walk", async () => {
  await using r = router({ trustedProxies: ["127.0.0.0/8", "10.0.0.0/8"] });
  await using _ = await backend(r, echoClient);
  const cases: [string, string, string][] = [
    // Two trusted hops (10.0.0.7, then the router's peer) after the client.
    ["6.6.6.6, 203.0.113.9, 10.0.0.7", "203.0.113.9", "203.0.113.9, 10.0.0.7, 127.0.0.1"],
    // Every entry trusted: the farthest is the client.
    ["10.0.0.9, 10.0.0.7", "10.0.0.9", "10.0.0.9, 10.0.0.7, 127.0.0.1"],
    // Ports and brackets as some balancers write them.
    ["[2001:db8::5]:4711", "2001:db8::5", "2001:db8::5, 127.0.0.1"],
    ["203.0.113.9:4711, 10.0.0.7", "203.0.113.9", "203.0.113.9, 10.0.0.7, 127.0.0.1"],
    // Not addresses: the trusted hop to the right is all that is known.
    ["6.6.6.6, unknown", "127.0.0.1", "127.0.0.1"],
    ["6.6.6.6, , 10.0.0.7", "10.0.0.7", "10.0.0.7, 127.0.0.1"],
    ["6.6.6.6, 010.0.0.7", "127.0.0.1", "127.0.0.1"],
    ["6.6.6.6, 203.0.113.9 x", "127.0.0.1", "127.0.0.1"],
  ];
  for (const [given, client, chain] of cases) {
    const seen = await seenBy(r, { "x-forwarded-for": given });
    equal(seen.remoteAddr, client, `remoteAddr for ${given}`);
    equal(seen.xff, chain, `X-Forwarded-For for ${given}`);
  }
});

Deno.test("Forwarded (RFC 7239) follows the same rule: cut to the trusted chain, the peer appended; dropped from others", async () => {
  {
    await using r = router({ trustedProxies: ["127.0.0.0/8"] });
    await using _ = await backend(r, echoClient);
    // Without X-Forwarded-For, the client comes from Forwarded's for= nodes.
    deepEqual(
      await seenBy(r, { forwarded: 'for=6.6.6.6, for="203.0.113.9:4711";proto=https' }),
      {
        remoteAddr: "203.0.113.9",
        xff: "203.0.113.9, 127.0.0.1",
        forwarded: 'for="203.0.113.9:4711";proto=https, for=127.0.0.1',
      },
    );
    // An obfuscated node (RFC 7239 §6.3) is no address: the walk stops at it.
    deepEqual(await seenBy(r, { forwarded: "for=6.6.6.6, for=_hidden" }), {
      remoteAddr: "127.0.0.1",
      xff: "127.0.0.1",
      forwarded: "for=127.0.0.1",
    });
  }
  {
    await using r = router();
    await using _ = await backend(r, echoClient);
    deepEqual(
      await seenBy(r, { forwarded: "for=6.6.6.6", "x-forwarded-for": "6.6.6.6" }),
      { remoteAddr: "127.0.0.1", xff: "127.0.0.1", forwarded: null },
    );
  }
});
