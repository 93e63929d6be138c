"""Rate limits (login, token, partner form, public directory): 429 with Retry-After."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address, headers_enabled=True)
