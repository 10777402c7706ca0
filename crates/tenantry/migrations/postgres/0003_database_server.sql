-- Database-tier tenants whose database lives on another PostgreSQL server
-- than the default: that server's URL (host and port only).
ALTER TABLE tenants ADD COLUMN database_server text;
