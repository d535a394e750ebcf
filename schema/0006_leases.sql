-- Leases for singleton roles (the scheduler): one owner at a time, an expiry the owner keeps
-- renewing, and a fencing token that grows with every change of owner. Operational state,
-- not a projection: it is never replayed.
CREATE TABLE leases (
  name         text PRIMARY KEY,
  owner        text NOT NULL,
  token        bigint NOT NULL,
  acquired_at  timestamptz NOT NULL,
  renewed_at   timestamptz NOT NULL,
  expires_at   timestamptz NOT NULL
);
