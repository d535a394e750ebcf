// The API client: bearer tokens kept for this tab (sessionStorage), one refresh on an expired
// access token, and errors as ApiError with the field the server named.
const KEY = "beampipe.session";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.code = body && body.code;
    this.field = body && body.field;
  }
}

export const session = {
  get() {
    try {
      return JSON.parse(sessionStorage.getItem(KEY)) || null;
    } catch {
      return null;
    }
  },
  set(s) {
    sessionStorage.setItem(KEY, JSON.stringify(s));
  },
  clear() {
    sessionStorage.removeItem(KEY);
  },
};

let onSignedOut = () => {};
export function whenSignedOut(fn) {
  onSignedOut = fn;
}

async function send(method, path, body, token, contentType) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = contentType || "application/json";
    payload = contentType ? body : JSON.stringify(body);
  }
  return fetch("/api/v2" + path, { method, headers, body: payload, cache: "no-store" });
}

async function parse(res) {
  const type = res.headers.get("Content-Type") || "";
  if (res.status === 204) return null;
  if (type.startsWith("application/json")) return res.json();
  return res.text();
}

let refreshing = null;
async function refresh() {
  const s = session.get();
  if (!s || !s.refresh) return false;
  refreshing = refreshing || (async () => {
    const res = await send("POST", "/refresh", { refresh_token: s.refresh });
    if (!res.ok) return false;
    const t = await res.json();
    session.set({ ...s, access: t.access_token, refresh: t.refresh_token });
    return true;
  })().finally(() => setTimeout(() => (refreshing = null), 0));
  return refreshing;
}

// Calls the API as the signed-in user; an expired access token is refreshed once.
export async function api(method, path, body, { contentType, raw } = {}) {
  let s = session.get();
  let res = await send(method, path, body, s && s.access, contentType);
  if (res.status === 401 && s && (await refresh())) {
    s = session.get();
    res = await send(method, path, body, s.access, contentType);
  }
  if (res.status === 401 && s) {
    session.clear();
    onSignedOut();
  }
  if (raw) {
    if (!res.ok) throw new ApiError(res.status, await parse(res));
    return res;
  }
  const data = await parse(res);
  if (!res.ok) throw new ApiError(res.status, data);
  return { data, total: Number(res.headers.get("X-Total-Count") || NaN) };
}

export async function signIn(username, password) {
  const res = await send("POST", "/login", { username, password });
  const data = await parse(res);
  if (!res.ok) throw new ApiError(res.status, data);
  session.set({ access: data.access_token, refresh: data.refresh_token, username });
  const me = await api("GET", "/user/me");
  session.set({ ...session.get(), superuser: !!me.data.is_superuser, username: me.data.username });
  return session.get();
}

export async function signOut() {
  const s = session.get();
  session.clear();
  if (s) await send("POST", "/logout", { access_token: s.access, refresh_token: s.refresh }).catch(() => {});
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  const s = q.toString();
  return s ? "?" + s : "";
}
