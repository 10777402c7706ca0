-- Kept for parity with PostgreSQL's registry; SQLite's database tier is files.
ALTER TABLE tenants ADD COLUMN database_server TEXT;
