// Exercises the SDK against a running gateway (integration/sdk_e2e_test.go
// runs it: `npm run integration` with HUB_GATEWAY_URL, HUB_EMAIL and
// HUB_PASSWORD set). Each step checks the typed answer; the last line on
// stdout is a JSON summary the Go test reads. Exit status 1 on a failure.
import { createHubClient, createHubClientV2, isProblem, ProblemError, unwrap, type Problem, type Schemas } from "../src/index.js";

const base = need("HUB_GATEWAY_URL");
const summary: Record<string, unknown> = {};

function need(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(`check failed: ${what}`);
}

// Sign-in and key creation are not in the OpenAPI documents (they are the
// identity API, docs/auth.md): plain fetch.
async function postJSON(path: string, body: unknown, token?: string): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (token) headers["Authorization"] = `Bearer ${token}`;
  const r = await fetch(base + path, { method: "POST", headers, body: JSON.stringify(body) });
  const text = await r.text();
  check(r.ok, `POST ${path}: ${r.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

async function main() {
  // 1. A JWT, then an API key made with it.
  const login = await postJSON("/api/auth/login", { email: need("HUB_EMAIL"), password: need("HUB_PASSWORD") });
  check(typeof login["access_token"] === "string", "login answers an access_token");
  const created = await postJSON("/api/auth/api-keys", { name: "sdk-integration", scopes: ["chantiers:*"] }, login["access_token"] as string);
  const key = created["key"];
  check(typeof key === "string" && key.startsWith("hbc_"), "the new key is an hbc_ key");
  summary["key_id"] = created["id"];

  const hub = createHubClient({ baseUrl: base, token: key });

  // 2. List: the answer is a typed ChantierList.
  const list = await hub.GET("/api/v1/chantiers", { params: { query: { limit: 5, total: "exact" } } });
  check(list.response.status === 200 && list.data, `list: ${list.response.status}`);
  const page: Schemas["ChantierList"] = list.data;
  check(Array.isArray(page.data), "list data is an array");
  summary["listed"] = page.data.length;

  // 3. Create, then PATCH under If-Match with the ETag read back.
  const nom = `SDK ${Date.now()}`;
  const post = await hub.POST("/api/v1/chantiers", { body: { nom, statut: "planifie", budget: 1200.5 } });
  check(post.response.status === 201 && post.data, `create: ${post.response.status} ${JSON.stringify(post.error)}`);
  const chantier: Schemas["Chantier"] = post.data;
  check(chantier.nom === nom && chantier.statut === "planifie", "created row echoes the input");
  summary["created_id"] = chantier.id;

  const got = await hub.GET("/api/v1/chantiers/{id}", { params: { path: { id: chantier.id } } });
  const etag = got.response.headers.get("ETag");
  check(got.data && etag, `get: ${got.response.status}, ETag ${etag}`);

  const patched = unwrap(
    await hub.PATCH("/api/v1/chantiers/{id}", {
      params: { path: { id: chantier.id } },
      headers: { "If-Match": etag },
      body: { nom, statut: "en_cours" },
    }),
  );
  check(patched.statut === "en_cours" && patched.version > chantier.version, "If-Match PATCH applied");
  summary["patched_version"] = patched.version;

  // 4. The stale ETag again: 412, a typed problem.
  const stale = await hub.PATCH("/api/v1/chantiers/{id}", {
    params: { path: { id: chantier.id } },
    headers: { "If-Match": etag },
    body: { nom, statut: "termine" },
  });
  check(stale.response.status === 412 && stale.error, `stale If-Match: ${stale.response.status}`);
  const p412: Problem = stale.error;
  check(p412.type === "urn:hubchantier:problem:precondition-failed" && p412.status === 412, `412 problem: ${JSON.stringify(p412)}`);
  check(stale.response.headers.get("Content-Type")?.startsWith("application/problem+json"), "412 is problem+json");
  summary["stale_type"] = p412.type;

  // 5. A validation problem lists the offending member in errors[].
  const bad = await hub.POST("/api/v1/chantiers", { body: { nom, budget: -1 } });
  check(bad.error && isProblem(bad.error), `invalid body: ${bad.response.status}`);
  check(bad.error.errors?.some((e) => e.field === "budget"), `errors[] names budget: ${JSON.stringify(bad.error)}`);
  summary["invalid_status"] = bad.response.status;
  summary["invalid_type"] = bad.error.type;
  try {
    unwrap(bad);
    check(false, "unwrap throws on a problem");
  } catch (e) {
    check(e instanceof ProblemError && e.status === bad.response.status, "unwrap throws a ProblemError");
  }

  // 6. The same row through v2: renamed members, typed by the v2 document.
  const v2 = createHubClientV2({ baseUrl: base, token: key });
  const two = unwrap(await v2.GET("/api/v2/chantiers/{id}", { params: { path: { id: chantier.id } } }));
  check(two.name === nom && two.status === "en_cours" && two.id === chantier.id, `v2 row: ${JSON.stringify(two)}`);
  summary["v2_name"] = two.name;

  // 7. No credential: 401, typed.
  const anon = createHubClient({ baseUrl: base });
  const r401 = await anon.GET("/api/v1/chantiers", {});
  check(r401.response.status === 401 && isProblem(r401.error), `anonymous: ${r401.response.status}`);
  summary["anonymous_type"] = r401.error?.type;

  console.log(JSON.stringify({ ok: true, ...summary }));
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  console.log(JSON.stringify({ ok: false, ...summary }));
  process.exit(1);
});
