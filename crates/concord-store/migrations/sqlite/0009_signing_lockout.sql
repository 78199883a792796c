-- Refused signatures by signer and time (21 CFR 11.300(d): attempts at unauthorised use are
-- detected). A partial index: only `signature.refused` events enter it, so appending every
-- other event costs nothing more.
CREATE INDEX audit_signature_refusals ON audit_events (entity, at)
    WHERE action = 'signature.refused';
