-- The image creates POSTGRES_DB (the cell's); the control plane keeps its
-- own database, since both record their migrations in _sqlx_migrations.
CREATE DATABASE orrery_control_plane OWNER orrery;
