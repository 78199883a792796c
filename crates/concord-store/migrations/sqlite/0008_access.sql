-- Web access: browser sessions and API tokens (only the SHA-256 of the secret is stored), and
-- project membership (who may open a project in the web app and the API).
CREATE TABLE credentials (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id),
    kind         TEXT NOT NULL CHECK (kind IN ('session', 'token')),
    name         TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    csrf_token   TEXT,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX credentials_user ON credentials (user_id, kind);

CREATE TABLE project_members (
    project_id INTEGER NOT NULL REFERENCES projects(id),
    user_id    INTEGER NOT NULL REFERENCES users(id),
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_members_user ON project_members (user_id);
