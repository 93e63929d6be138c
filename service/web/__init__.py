"""Server-rendered pages for people without an account: the partner's feedback form (`/f/`)."""
