"""Storage: the database, its migrations and one repository per concept."""
