#!/usr/bin/env node
// A real OpenID provider (npm oidc-provider 9.13.3) on loopback for smcp's auth tests: it issues
// client-credentials JWT access tokens (`typ: at+jwt`, `aud` = the RFC 8707 `resource`, `sub` =
// the client id) signed RS256 or ES256, per client. Documented in tests/peers/README.md.
//
//   node tests/peers/oidc/provider.mjs [--port 0] [--token-ttl 600] [--profile strict|permissive]
//
// Two profiles, because real providers differ where smcp-client's defaults matter:
//   strict (default)  as Entra ID and Okta behave: a client may get only the API's scopes with
//                     client_credentials (`openid` is invalid_scope), resource indicators on
//                     (`aud` = the RFC 8707 `resource`), an `audience` parameter is ignored.
//   permissive        as Auth0 and Keycloak behave: clients may also get `openid profile email`,
//                     and an `audience` parameter decides `aud` (over `resource`).
// DPoP (RFC 9449) is on in both: a token request with a `DPoP` proof (ES256 or EdDSA) gets a
// bound token (`token_type: DPoP`, `cnf.jkt`); `--dpop-nonce` makes the token endpoint demand
// its nonce first (`use_dpop_nonce` with a `DPoP-Nonce` header).
//
// Listens on 127.0.0.1 (port 0: chosen by the OS) and prints ONE line on stdout when it serves:
//   SMCP_OIDC_READY {"issuer":..., "token_endpoint":..., "jwks_uri":..., "clients":[...], "admin":...}
// Clients (all grant_types: client_credentials):
//   smcp-rs256 / smcp-rs256-secret      client_secret_basic  tokens RS256  may get mcp:tools mcp:admin
//   smcp-es256 / smcp-es256-secret      client_secret_post   tokens ES256  may get mcp:tools mcp:admin
//   smcp-jwt   (private_key_jwt, ES256 assertion; private JWK and PEM in the ready line) tokens RS256,
//                                                                         may get mcp:tools mcp:admin
//   smcp-limited / smcp-limited-secret  client_secret_basic  tokens RS256  may get mcp:tools mcp:admin
//   smcp-narrow / smcp-narrow-secret    client_secret_basic  tokens RS256  may get mcp:tools only
// A token carries exactly the scopes its request asked for, those the client may get (its
// `scope`; asking for another known scope is `invalid_scope`) and the resource server knows
// (unknown scopes are dropped): no `scope`, no scopes. That is oidc-provider's client
// credentials grant (lib/actions/grants/client_credentials.js): the requested scopes, checked
// against the client's `scope`, filtered by the resource server's `scope`. smcp-limited is
// the client the step-up tests start narrow (`mcp:tools`) and widen (`mcp:admin` on demand);
// smcp-narrow is refused the widening.
// Without `resource` (and, permissive, `audience`), tokens get `aud` = urn:smcp:default.
// Admin (loopback test hooks, not OAuth):
//   POST /admin/rotate[?drop=1]  new RS256 + ES256 signing keys, published first and used from
//                                now on; old keys stay published unless drop=1. -> {"kids": [...]}
//   GET  /admin/stats            {"token_requests": N, "rotations": N, "kids": [...]}
import { randomBytes } from "node:crypto";
import http from "node:http";
import { parseArgs } from "node:util";
import { exportJWK, exportPKCS8, generateKeyPair } from "jose";
import Provider from "oidc-provider";

const { values: args } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    "token-ttl": { type: "string", default: "600" },
    profile: { type: "string", default: "strict" },
    "dpop-nonce": { type: "boolean", default: false },
  },
});
if (!["strict", "permissive"].includes(args.profile)) {
  process.stderr.write(`--profile must be strict or permissive (got ${args.profile})\n`);
  process.exit(2);
}
const PERMISSIVE = args.profile === "permissive";
// What a permissive provider also lets every client ask for (OIDC scopes, not the API's).
const OIDC_SCOPES = PERMISSIVE ? "openid profile email " : "";
const TOKEN_TTL = Number(args["token-ttl"]);
const SCOPES = "mcp:tools mcp:admin";
const DEFAULT_RESOURCE = "urn:smcp:default";
const TOKEN_ALG = {
  "smcp-rs256": "RS256",
  "smcp-es256": "ES256",
  "smcp-jwt": "RS256",
  "smcp-limited": "RS256",
  "smcp-narrow": "RS256",
};

let generation = 0;
async function signingKey(alg) {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, alg, use: "sig", kid: `${alg.toLowerCase()}-${generation}` };
}
async function freshKeys() {
  generation += 1;
  return [await signingKey("RS256"), await signingKey("ES256")];
}

const clientKey = (await generateKeyPair("ES256", { extractable: true })).privateKey;
const clientPrivateJwk = { ...(await exportJWK(clientKey)), kid: "smcp-jwt-client", alg: "ES256" };
const clientPrivatePem = await exportPKCS8(clientKey);
const { d: _d, ...clientPublicJwk } = clientPrivateJwk;
const CLIENTS = [
  { client_id: "smcp-rs256", client_secret: "smcp-rs256-secret", token_endpoint_auth_method: "client_secret_basic" },
  { client_id: "smcp-es256", client_secret: "smcp-es256-secret", token_endpoint_auth_method: "client_secret_post" },
  {
    client_id: "smcp-jwt",
    token_endpoint_auth_method: "private_key_jwt",
    token_endpoint_auth_signing_alg: "ES256",
    jwks: { keys: [clientPublicJwk] },
  },
  { client_id: "smcp-limited", client_secret: "smcp-limited-secret", token_endpoint_auth_method: "client_secret_basic" },
  {
    client_id: "smcp-narrow",
    client_secret: "smcp-narrow-secret",
    token_endpoint_auth_method: "client_secret_basic",
    scope: "mcp:tools",
  },
].map((c) => ({
  ...c,
  scope: OIDC_SCOPES + (c.scope ?? SCOPES),
  grant_types: ["client_credentials"],
  redirect_uris: [],
  response_types: [],
}));

let keys = await freshKeys(); // newest first; the provider signs with the newest of each alg
let issuer;
let handler = null;
const stats = { token_requests: 0, rotations: 0 };

function build(issuer) {
  const current = Object.fromEntries(keys.slice(0, 2).map((k) => [k.alg, k.kid]));
  const p = new Provider(issuer, {
    clients: CLIENTS,
    jwks: { keys },
    scopes: ["openid", "profile", "email", ...SCOPES.split(" ")],
    ttl: { ClientCredentials: TOKEN_TTL },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      dPoP: {
        enabled: true,
        ...(args["dpop-nonce"] ? { nonceSecret: randomBytes(32), requireNonce: () => true } : {}),
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf ?? DEFAULT_RESOURCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, resource, client) => {
          const alg = TOKEN_ALG[client.clientId] ?? "RS256";
          // Auth0's `audience` token parameter (oidc-provider knows no such parameter, so it
          // is read from the form body).
          const asked = ctx.oidc.body?.audience;
          const audience = (PERMISSIVE && typeof asked === "string" && asked) || resource;
          return { scope: SCOPES, audience, accessTokenFormat: "jwt", jwt: { sign: { alg, kid: current[alg] } } };
        },
      },
    },
  });
  p.on("server_error", (_ctx, err) => process.stderr.write(`oidc-provider server_error: ${err.stack}\n`));
  return p.callback();
}

function json(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://127.0.0.1");
  if (url.pathname === "/admin/stats" && req.method === "GET") {
    return json(res, 200, { ...stats, kids: keys.map((k) => k.kid) });
  }
  if (url.pathname === "/admin/rotate" && req.method === "POST") {
    const fresh = await freshKeys();
    keys = url.searchParams.get("drop") === "1" ? fresh : [...fresh, ...keys];
    handler = build(issuer);
    stats.rotations += 1;
    return json(res, 200, { kids: keys.map((k) => k.kid) });
  }
  if (url.pathname === "/token" && req.method === "POST") stats.token_requests += 1;
  return handler(req, res);
});

server.listen(Number(args.port), "127.0.0.1", async () => {
  const { port } = server.address();
  issuer = `http://127.0.0.1:${port}`;
  handler = build(issuer);
  const ready = {
    issuer,
    port,
    token_endpoint: `${issuer}/token`,
    jwks_uri: `${issuer}/jwks`,
    profile: args.profile,
    default_resource: DEFAULT_RESOURCE,
    scopes: SCOPES.split(" "),
    clients: CLIENTS.map((c) => ({
      client_id: c.client_id,
      client_secret: c.client_secret ?? null,
      auth_method: c.token_endpoint_auth_method,
      token_alg: TOKEN_ALG[c.client_id],
      scopes: c.scope.split(" "),
      ...(c.jwks ? { private_jwk: clientPrivateJwk, private_key_pem: clientPrivatePem } : {}),
    })),
    admin: { rotate: `${issuer}/admin/rotate`, stats: `${issuer}/admin/stats` },
  };
  process.stdout.write(`SMCP_OIDC_READY ${JSON.stringify(ready)}\n`);
});

// No orphans: exit when the parent (the test binary) goes away without killing us.
const parentAtStart = process.ppid;
setInterval(() => process.ppid !== parentAtStart && process.exit(1), 500).unref();
