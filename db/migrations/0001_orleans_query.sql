-- The table the Orleans ADO.NET providers read their SQL from at start-up.
-- Written for this project from the provider contract (orleans-adonet-contract.md §2), not copied.
-- The providers query it unquoted and schema-less, so the names must be lowercase and on the search_path.
-- Later migrations fill it with INSERT ... ON CONFLICT (querykey) DO UPDATE, so re-running them is harmless.
CREATE TABLE IF NOT EXISTS orleansquery
(
    querykey  varchar(64) NOT NULL PRIMARY KEY,
    querytext text        NOT NULL
);
