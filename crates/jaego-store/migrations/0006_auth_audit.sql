-- People who sign in, their browser sessions, sign-in throttling and the
-- audit log. Valid on SQLite and PostgreSQL alike, like 0001.

-- A user belongs to one tenant. Login names are unique across tenants so a
-- sign-in form needs only the name and the password.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    login TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner','manager','staff','integration','display')),
    -- Argon2id in PHC string form ($argon2id$v=19$m=…,t=…,p=…$salt$hash).
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    password_changed_at BIGINT NOT NULL,
    disabled_at BIGINT,
    CONSTRAINT users_login_key UNIQUE (login)
);
CREATE INDEX users_tenant ON users (tenant_id, id);

-- A signed-in browser. The cookie carries a 256-bit secret; only its SHA-256
-- is stored. A session ends at expires_at, or when unused for idle_us, or
-- when revoked (sign-out, an owner, a password reset, the user disabled).
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    secret_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    idle_us BIGINT NOT NULL CHECK (idle_us > 0),
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    client_addr TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    CONSTRAINT sessions_secret_key UNIQUE (secret_hash)
);
CREATE INDEX sessions_tenant ON sessions (tenant_id, id);
CREATE INDEX sessions_user ON sessions (user_id);

-- Fixed-window counters of sign-in attempts, per account ('login:<name>')
-- and per client address ('addr:<ip>'). In the database so every instance
-- shares them.
CREATE TABLE login_attempts (
    scope_key TEXT PRIMARY KEY,
    window_started_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL
);

-- Who did what, when, from which token or user. Never holds request bodies.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    occurred_at BIGINT NOT NULL,
    -- 'token:<id>', 'user:<id>', or 'login:<name>' for a failed sign-in.
    actor TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT '',
    token_id TEXT,
    user_id TEXT,
    session_id TEXT,
    method TEXT NOT NULL,
    -- The route template, e.g. '/api/v1/skus/{id}', never the raw path.
    route TEXT NOT NULL,
    -- Space-separated ids the request named or created.
    target_ids TEXT NOT NULL DEFAULT '',
    status BIGINT NOT NULL,
    -- The problem code of a refused request, e.g. 'forbidden'.
    outcome TEXT NOT NULL DEFAULT '',
    client_addr TEXT NOT NULL DEFAULT '',
    request_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);
CREATE INDEX audit_log_tenant_actor ON audit_log (tenant_id, actor, id);
