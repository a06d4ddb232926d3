"""Storage: SQLAlchemy tables, a group-committing writer, repositories and migrations."""
