-- The member service's table. A member is made on first login; the openid
-- (the chat app's id of the user) is unique, so two concurrent first logins
-- make one member (INSERT ... ON CONFLICT, server/member/role.cpp).
CREATE TABLE members (
    user_id       bigserial   PRIMARY KEY,
    openid        text        NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 80);  -- room for the login's HOT update of last_login_at
