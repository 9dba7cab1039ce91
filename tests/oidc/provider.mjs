// An independent OpenID provider for the console's sign-in tests: panva's oidc-provider (an
// OpenID Certified implementation), configured from one JSON file named on the command line:
//
//   node tests/oidc/provider.mjs config.json
//
// config.json: {
//   "port": 20123,                        listens on 127.0.0.1:<port>, issuer http://127.0.0.1:<port>
//   "jwks": {"keys": [<private JWKs with kid>]},   the signing keys: EC P-256, or RSA (RS256, PS256)
//   "idTokenSigningAlgValues": ["ES256"],  what ID tokens may be signed with (default ES256); the
//                                          discovery document names those a key can make
//   "clients": [<client metadata>],       e.g. the console (PKCE, the hub's redirect URI)
//   "accounts": {"<sub>": {"role": …, "department": …}}     the claims of each account
// }
//
// Sign-in is oidc-provider's devInteractions (a login form taking any account id and any
// password); consent is granted without asking (a first-party client). Every client must use
// PKCE (S256). The ID token carries the account's `role` and `department` claims for the
// `openid` scope, as the hub expects of its organisation's provider (docs/sign-in.md). A key
// rotation is a restart with another "jwks". Prints "ready <issuer>" once it listens.

import { readFileSync } from "node:fs";
import Provider from "oidc-provider";

const config = JSON.parse(readFileSync(process.argv[2], "utf-8"));
const issuer = `http://127.0.0.1:${config.port}`;

const provider = new Provider(issuer, {
  clients: config.clients,
  jwks: config.jwks,
  cookies: { keys: ["tongban-test-cookie-key-1"] },
  claims: { openid: ["sub", "role", "department"] },
  conformIdTokenClaims: false, // the role claims go into the ID token, not only userinfo
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  enabledJWA: { idTokenSigningAlgValues: config.idTokenSigningAlgValues ?? ["ES256"] },
  async findAccount(_ctx, sub) {
    const claims = config.accounts[sub];
    if (!claims) return undefined;
    return { accountId: sub, claims: async () => ({ sub, ...claims }) };
  },
  async loadExistingGrant(ctx) {
    const { client, session, params } = ctx.oidc;
    const existing = session.grantIdFor(client.clientId);
    if (existing) return ctx.oidc.provider.Grant.find(existing);
    const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
    grant.addOIDCScope(String(params.scope || "openid"));
    grant.addOIDCClaims(["sub", "role", "department"]);
    await grant.save();
    return grant;
  },
  renderError(ctx, out) {
    const text = `${out.error}: ${out.error_description ?? ""}`.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
    ctx.type = "html";
    ctx.body = `<!doctype html><title>error</title><pre id="error">${text}</pre>`;
  },
});

provider.listen(config.port, "127.0.0.1", () => {
  process.stdout.write(`ready ${issuer}\n`);
});
