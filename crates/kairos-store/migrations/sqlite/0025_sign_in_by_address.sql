-- Sign-in throttling counts failures by address as well as by account
-- (kairos_domain::signin): an index over the sign-in entries by address.
CREATE INDEX audit_sign_in_address ON audit_log (remote_addr, at) WHERE action IN ('login', 'login_failed');
