-- ASP.NET Core Data Protection's key ring, shared by every host of the cluster: the keys that encrypt the project
-- secrets kept in grain state (Marketo client secret, Munchkin private key, KARTE app token). Each row is one key's
-- XML as Data Protection writes it, itself encrypted with Secrets:KeyEncryptionCertificatePath where that is set.
-- Rows are only added; Data Protection retires old keys by writing revocations, never by deleting.
CREATE TABLE IF NOT EXISTS data_protection_keys
(
    friendly_name text        PRIMARY KEY,
    xml           text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
