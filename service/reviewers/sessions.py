"""Sign-in sessions kept server-side in Redis, their CSRF tokens, and the sign-in rate limit."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import asdict, dataclass

from litestar.stores.redis import RedisStore
from redis.asyncio import Redis

COOKIE = "hitl_session"
IDLE_SECONDS = 30 * 60
ABSOLUTE_SECONDS = 12 * 3600
# Failed sign-ins allowed per window: few per account (guessing one password), more per address
# (a shared office address should not lock a whole team out after a few typos).
WINDOW_SECONDS = 15 * 60
ACCOUNT_FAILURES = 5
ADDRESS_FAILURES = 30


@dataclass
class Session:
    csrf: str
    created: float
    reviewer_id: str | None = None  # None: an anonymous session, held only for the sign-in form
    flash: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.reviewer_id is not None

    @property
    def reviewer_uuid(self) -> uuid.UUID | None:
        return uuid.UUID(self.reviewer_id) if self.reviewer_id else None

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf, token or "")


def ttl_left(created: float, now: float) -> int:
    """Seconds the session may still live: idle timeout, never past the absolute limit."""
    return int(min(IDLE_SECONDS, created + ABSOLUTE_SECONDS - now))


def seal(sid: str, key: str) -> str:
    """The cookie's value: the session id and its HMAC under HITL_SECRET_KEY, so a cookie that
    was not issued by this service (or was issued under a key since rotated) is refused before
    Redis is asked. Rotating the key signs everyone out."""
    mac = hmac.new(key.encode(), sid.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{sid}.{mac}"


def unseal(value: str | None, key: str) -> str | None:
    """The session id of a cookie sealed with this key, else None."""
    if not value or len(value) > 200 or "." not in value:
        return None
    sid, _, mac = value.rpartition(".")
    return sid if hmac.compare_digest(seal(sid, key), value) and mac else None


class SessionStore:
    """Server-side sessions on Litestar's RedisStore. Session ids live only in the cookie; the
    store's keys are their SHA-256, so a copy of Redis cannot be replayed as cookies.

    Litestar's own ServerSideSessionConfig is not used: it keys Redis by the raw session id,
    renews on every access (a socket's pushes would keep a person signed in forever) and has
    no absolute lifetime; the store under it is."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.store = RedisStore(redis, namespace=f"{prefix}:session")

    @staticmethod
    def _key(sid: str) -> str:
        return hashlib.sha256(sid.encode()).hexdigest()

    async def create(self, reviewer_id: uuid.UUID | None = None) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(32)
        session = Session(
            csrf=secrets.token_urlsafe(32),
            created=time.time(),
            reviewer_id=str(reviewer_id) if reviewer_id else None,
        )
        await self._save(sid, session)
        return sid, session

    async def load(self, sid: str | None) -> Session | None:
        """The live session for this id, its idle timer restarted; None if unknown or expired."""
        if not sid or len(sid) > 100:
            return None
        key = self._key(sid)
        raw = await self.store.get(key, renew_for=IDLE_SECONDS)  # one round trip
        if raw is None:
            return None
        try:
            session = Session(**json.loads(raw))
        except (TypeError, ValueError):
            return None
        ttl = ttl_left(session.created, time.time())
        if ttl <= 0:
            await self.store.delete(key)
            return None
        if ttl < IDLE_SECONDS:  # the last half hour of its twelve: never renewed past them
            await self.store.set(key, raw, expires_in=ttl)
        return session

    async def alive(self, sid: str | None) -> bool:
        """Whether the session still exists, WITHOUT restarting its idle timer: an open page
        pushing updates is not the person doing something."""
        return bool(sid) and len(str(sid)) <= 100 and await self.store.exists(self._key(str(sid)))

    async def save(self, sid: str, session: Session) -> None:
        await self._save(sid, session)

    async def _save(self, sid: str, session: Session) -> None:
        ttl = ttl_left(session.created, time.time())
        if ttl > 0:
            await self.store.set(self._key(sid), json.dumps(asdict(session)), expires_in=ttl)

    async def destroy(self, sid: str | None) -> None:
        if sid:
            await self.store.delete(self._key(sid))

    async def sign_in(self, old_sid: str | None, reviewer_id: uuid.UUID) -> tuple[str, Session]:
        """A new id and CSRF token at sign-in: a session id planted before sign-in is worthless."""
        await self.destroy(old_sid)
        return await self.create(reviewer_id)


class SignInLimiter:
    """Counts sign-in attempts per account and per address in fixed windows; a success clears
    the account's count and is not charged to the address. Hand-written on purpose: Litestar's
    RateLimitConfig counts every request per client address, and cannot key by the account in
    the form, nor leave out the attempts that succeeded."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def _keys(self, email: str, address: str) -> tuple[str, str]:
        account = hashlib.sha256(email.strip().lower().encode()).hexdigest()
        return (
            f"{self.prefix}:signin:account:{account}",
            f"{self.prefix}:signin:address:{address}",
        )

    async def attempt(self, email: str, address: str) -> int | None:
        """Counts this attempt against both limits in one atomic step, before the password is
        checked: parallel attempts cannot all pass a check and count afterwards. Seconds to
        wait when either limit is exceeded, else None."""
        account_key, address_key = self._keys(email, address)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(account_key)
            pipe.expire(account_key, WINDOW_SECONDS, nx=True)
            pipe.incr(address_key)
            pipe.expire(address_key, WINDOW_SECONDS, nx=True)
            account, _, addr, _ = await pipe.execute()
        over = (
            account_key
            if account > ACCOUNT_FAILURES
            else (address_key if addr > ADDRESS_FAILURES else None)
        )
        if over is None:
            return None
        # A refused attempt is not counted: the counts stay the attempts that were checked.
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.decr(account_key)
            pipe.decr(address_key)
            pipe.ttl(over)
            *_, ttl = await pipe.execute()
        return max(int(ttl), 1)

    async def succeeded(self, email: str, address: str) -> None:
        """The right password: the account starts afresh, and the address is not charged."""
        account_key, address_key = self._keys(email, address)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(account_key)
            pipe.decr(address_key)
            await pipe.execute()
