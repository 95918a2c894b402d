"""Staff accounts: users, roles, sign-in, password policy and admin user management."""
