"""UserService: portal users, their passwords, sign-in throttling and sessions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from ampnexus.domain.errors import BadCredentials, Conflict, Invalid, NotFound, TooManyAttempts
from ampnexus.domain.user import Role, normal_email
from ampnexus.services.secrets import (
    PORTAL_COST,
    PasswordChecksBusy,
    PasswordHasher,
    session_digest,
)
from ampnexus.services.users import LoginThrottle, UserService
from tests.fakes import START, Fakes

PASSWORD = "correct horse battery"
HOME, AWAY = "192.0.2.1", "198.51.100.7"


class CountingHasher(PasswordHasher):
    """Cheap scrypt (p=1) that counts its checks; `busy` refuses them as if saturated."""

    def __init__(self) -> None:
        super().__init__(cost=1)
        self.verified = 0
        self.busy = False

    async def verify(self, password: str, stored: str) -> bool:
        if self.busy:
            raise PasswordChecksBusy("test")
        self.verified += 1
        return await super().verify(password, stored)


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
def users(fakes: Fakes, hasher: CountingHasher) -> Iterator[UserService]:
    throttle = LoginThrottle(fakes.clock, per_account=3, per_address=5, window=600)
    service = UserService(
        fakes.users, fakes.portal_sessions, fakes.clock, hasher=hasher, throttle=throttle
    )
    yield service
    service.close()


def test_roles_are_ordered_admin_over_operator_over_viewer() -> None:
    assert Role.ADMIN.covers(Role.OPERATOR) and Role.ADMIN.covers(Role.VIEWER)
    assert Role.OPERATOR.covers(Role.VIEWER) and Role.OPERATOR.covers(Role.OPERATOR)
    assert not Role.OPERATOR.covers(Role.ADMIN)
    assert not Role.VIEWER.covers(Role.OPERATOR)


@pytest.mark.parametrize(
    "text", ["", "ann", "@example.com", "ann@", "a@b@c", "an n@example.com", "a" * 250 + "@b.cd"]
)
def test_an_email_needs_one_at_and_254_characters_at_most(text: str) -> None:
    with pytest.raises(Invalid, match="not an email address"):
        normal_email(text)


def test_an_email_is_stored_lower_case() -> None:
    assert normal_email("  Ann.Lee@Example.COM ") == "ann.lee@example.com"


async def test_a_password_is_stored_hashed_only(fakes: Fakes) -> None:
    users = UserService(fakes.users, fakes.portal_sessions, fakes.clock)  # production cost
    try:
        user = await users.create("Ann@Example.com", PASSWORD, Role.ADMIN)
    finally:
        users.close()
    assert (user.email, user.role, user.created_at) == ("ann@example.com", "admin", START)
    [(_, stored)] = fakes.memory.users.values()
    assert PASSWORD not in stored and stored.startswith(f"scrypt$8192$8${PORTAL_COST}$")


async def test_a_duplicate_email_in_any_case_conflicts(users: UserService) -> None:
    await users.create("ann@example.com", PASSWORD, Role.VIEWER)
    with pytest.raises(Conflict, match=r"ann@example\.com exists"):
        await users.create("ANN@example.com", PASSWORD, Role.ADMIN)


@pytest.mark.parametrize("length", [0, 11, 129])
async def test_a_password_needs_12_to_128_characters(users: UserService, length: int) -> None:
    with pytest.raises(Invalid, match="12 to 128 characters"):
        await users.create("ann@example.com", "x" * length, Role.VIEWER)
    assert await users.list() == []


@pytest.mark.parametrize("length", [12, 128])
async def test_12_and_128_characters_will_do(users: UserService, length: int) -> None:
    await users.create("ann@example.com", "x" * length, Role.VIEWER)
    await users.sign_in("ann@example.com", "x" * length, HOME)


async def test_users_are_listed_found_and_deleted_by_email_or_id(users: UserService) -> None:
    bob = await users.create("bob@example.com", PASSWORD, Role.VIEWER)
    ann = await users.create("ann@example.com", PASSWORD, Role.ADMIN)
    assert [u.email for u in await users.list()] == ["ann@example.com", "bob@example.com"]
    assert await users.get("BOB@example.com") == bob == await users.get(bob.id)
    assert await users.delete("Bob@Example.com") == bob
    with pytest.raises(NotFound):
        await users.get(bob.id)
    with pytest.raises(NotFound):
        await users.delete("bob@example.com")
    assert await users.list() == [ann]


async def test_the_last_active_admin_stays(users: UserService) -> None:
    await users.create("ann@example.com", PASSWORD, Role.ADMIN)
    for step in (
        users.delete("ann@example.com"),
        users.change_role("ann@example.com", Role.OPERATOR),
        users.set_disabled("ann@example.com", True),
    ):
        with pytest.raises(Conflict, match="only active admin"):
            await step
    await users.create("bob@example.com", PASSWORD, Role.ADMIN)
    assert (await users.change_role("ann@example.com", Role.VIEWER)).role is Role.VIEWER


async def test_sign_in_gives_a_session_stored_by_digest(fakes: Fakes, users: UserService) -> None:
    ann = await users.create("ann@example.com", PASSWORD, Role.OPERATOR)
    fakes.clock.advance(minutes=5)
    session, token = await users.sign_in(" ANN@example.com", PASSWORD, HOME)
    assert (session.user_id, session.created_at) == (ann.id, fakes.clock.now())
    assert session.expires_at == fakes.clock.now() + timedelta(days=7)
    assert list(fakes.memory.portal_sessions) == [session_digest(token)]  # not the token
    found = await users.session(token)
    assert found is not None
    user, same = found
    assert (user.email, user.role, user.last_login_at) == (
        ann.email,
        Role.OPERATOR,
        session.created_at,
    )
    assert same == session
    other, other_token = await users.sign_in("ann@example.com", PASSWORD, HOME)
    assert other_token != token and other.csrf_token != session.csrf_token
    assert await users.session(token + "x") is None and await users.session("") is None


async def test_a_wrong_password_and_an_unknown_email_look_alike(
    users: UserService, hasher: CountingHasher
) -> None:
    await users.create("ann@example.com", PASSWORD, Role.VIEWER)
    answers = []
    for email, password in (
        ("ann@example.com", PASSWORD + "!"),
        ("nobody@example.com", PASSWORD),
        ("not an email", PASSWORD),
    ):
        before = hasher.verified
        with pytest.raises(BadCredentials) as refused:
            await users.sign_in(email, password, HOME)
        answers.append(str(refused.value))
        assert hasher.verified == before + 1  # a password check each time, user or not
    assert answers == ["wrong email or password"] * 3


async def test_failed_sign_ins_are_throttled_per_email_and_address(
    fakes: Fakes, users: UserService, hasher: CountingHasher
) -> None:
    await users.create("ann@example.com", PASSWORD, Role.VIEWER)
    for _ in range(3):
        with pytest.raises(BadCredentials):
            await users.sign_in("ann@example.com", "wrong password!", AWAY)
    checks = hasher.verified
    with pytest.raises(TooManyAttempts) as refused:  # even the right password
        await users.sign_in("Ann@example.com", PASSWORD, AWAY)
    assert refused.value.retry_after == 600
    assert hasher.verified == checks  # refused without a password check
    await users.sign_in("ann@example.com", PASSWORD, HOME)  # the real Ann, elsewhere
    fakes.clock.advance(seconds=599)
    with pytest.raises(TooManyAttempts) as refused:
        await users.sign_in("ann@example.com", PASSWORD, AWAY)
    assert refused.value.retry_after == 1
    fakes.clock.advance(seconds=1)  # the first failure left the window
    await users.sign_in("ann@example.com", PASSWORD, AWAY)


async def test_unknown_emails_count_like_known_ones(users: UserService) -> None:
    for _ in range(3):
        with pytest.raises(BadCredentials):
            await users.sign_in("nobody@example.com", PASSWORD, AWAY)
    with pytest.raises(TooManyAttempts):  # as a known email would be: nothing told apart
        await users.sign_in("nobody@example.com", PASSWORD, AWAY)


async def test_failed_sign_ins_are_throttled_per_address(fakes: Fakes, users: UserService) -> None:
    await users.create("ann@example.com", PASSWORD, Role.VIEWER)
    for n in range(5):  # any email: a guesser trying many accounts
        with pytest.raises(BadCredentials):
            await users.sign_in(f"user{n}@example.com", PASSWORD, "2001:db8::1")
    with pytest.raises(TooManyAttempts):  # the same /64
        await users.sign_in("ann@example.com", PASSWORD, "2001:db8::2")
    await users.sign_in("ann@example.com", PASSWORD, HOME)
    fakes.clock.advance(minutes=10)
    await users.sign_in("ann@example.com", PASSWORD, "2001:db8::2")


async def test_a_success_forgives_earlier_typos(users: UserService) -> None:
    await users.create("ann@example.com", PASSWORD, Role.VIEWER)
    for _ in range(2):
        with pytest.raises(BadCredentials):
            await users.sign_in("ann@example.com", "typo password", HOME)
    await users.sign_in("ann@example.com", PASSWORD, HOME)
    for _ in range(2):
        with pytest.raises(BadCredentials):
            await users.sign_in("ann@example.com", "typo password", HOME)
    await users.sign_in("ann@example.com", PASSWORD, HOME)


async def test_saturated_password_checks_refuse_at_once(
    users: UserService, hasher: CountingHasher
) -> None:
    await users.create("ann@example.com", PASSWORD, Role.VIEWER)
    hasher.busy = True
    with pytest.raises(TooManyAttempts) as refused:
        await users.sign_in("ann@example.com", PASSWORD, HOME)
    assert refused.value.retry_after == 1


async def test_a_session_ends_after_12_idle_hours(fakes: Fakes, users: UserService) -> None:
    await users.create("ann@example.com", PASSWORD, Role.VIEWER)
    _, token = await users.sign_in("ann@example.com", PASSWORD, HOME)
    fakes.clock.advance(hours=11, minutes=59)
    assert await users.session(token) is not None  # and its idle time starts again
    fakes.clock.advance(hours=11, minutes=59)
    assert await users.session(token) is not None
    fakes.clock.advance(hours=12)
    assert await users.session(token) is None
    assert fakes.memory.portal_sessions == {}  # deleted


async def test_a_session_ends_7_days_after_sign_in_however_used(
    fakes: Fakes, users: UserService
) -> None:
    await users.create("ann@example.com", PASSWORD, Role.VIEWER)
    session, token = await users.sign_in("ann@example.com", PASSWORD, HOME)
    while fakes.clock.now() + timedelta(hours=6) < session.expires_at:
        fakes.clock.advance(hours=6)
        assert await users.session(token) is not None
    fakes.clock.set(session.expires_at)
    assert await users.session(token) is None


async def test_a_recent_session_is_not_rewritten_on_every_request(
    fakes: Fakes, users: UserService
) -> None:
    await users.create("ann@example.com", PASSWORD, Role.VIEWER)
    session, token = await users.sign_in("ann@example.com", PASSWORD, HOME)
    fakes.clock.advance(seconds=30)
    found = await users.session(token)
    assert found is not None and found[1].last_seen_at == session.created_at
    fakes.clock.advance(seconds=30)
    found = await users.session(token)
    assert found is not None and found[1].last_seen_at == fakes.clock.now()
    [stored] = fakes.memory.portal_sessions.values()
    assert stored.last_seen_at == fakes.clock.now()


async def test_sign_out_ends_the_session(users: UserService) -> None:
    await users.create("ann@example.com", PASSWORD, Role.VIEWER)
    _, token = await users.sign_in("ann@example.com", PASSWORD, HOME)
    _, other = await users.sign_in("ann@example.com", PASSWORD, HOME)
    assert await users.sign_out(token)
    assert await users.session(token) is None
    assert not await users.sign_out(token)  # twice is no error
    assert await users.session(other) is not None
    assert await users.sign_out_everywhere("ann@example.com") == 1
    assert await users.session(other) is None


async def test_a_deleted_users_sessions_are_gone(fakes: Fakes, users: UserService) -> None:
    await users.create("ann@example.com", PASSWORD, Role.ADMIN)
    await users.create("bob@example.com", PASSWORD, Role.VIEWER)
    _, token = await users.sign_in("bob@example.com", PASSWORD, HOME)
    await users.delete("bob@example.com")
    assert await users.session(token) is None
    assert fakes.memory.portal_sessions == {}


async def test_disabling_or_a_new_password_ends_sessions(users: UserService) -> None:
    await users.create("ann@example.com", PASSWORD, Role.ADMIN)
    await users.create("bob@example.com", PASSWORD, Role.VIEWER)
    _, token = await users.sign_in("bob@example.com", PASSWORD, HOME)
    await users.set_disabled("bob@example.com", True)
    assert await users.session(token) is None
    with pytest.raises(BadCredentials, match="disabled"):
        await users.sign_in("bob@example.com", PASSWORD, HOME)
    await users.set_disabled("bob@example.com", False)
    _, token = await users.sign_in("bob@example.com", PASSWORD, HOME)
    await users.set_password("bob@example.com", "a brand new password")
    assert await users.session(token) is None
    with pytest.raises(BadCredentials):
        await users.sign_in("bob@example.com", PASSWORD, HOME)
    await users.sign_in("bob@example.com", "a brand new password", HOME)


async def test_a_changed_role_applies_to_open_sessions(users: UserService) -> None:
    await users.create("ann@example.com", PASSWORD, Role.ADMIN)
    await users.create("bob@example.com", PASSWORD, Role.VIEWER)
    _, token = await users.sign_in("bob@example.com", PASSWORD, HOME)
    await users.change_role("bob@example.com", Role.OPERATOR)
    found = await users.session(token)
    assert found is not None and found[0].role is Role.OPERATOR


async def test_the_csrf_token_is_the_sessions_own(users: UserService) -> None:
    await users.create("ann@example.com", PASSWORD, Role.VIEWER)
    session, _ = await users.sign_in("ann@example.com", PASSWORD, HOME)
    other, _ = await users.sign_in("ann@example.com", PASSWORD, HOME)
    assert len(session.csrf_token) >= 43
    assert users.check_csrf(session, session.csrf_token)
    assert not users.check_csrf(session, other.csrf_token)
    assert not users.check_csrf(session, None)
    assert not users.check_csrf(session, "")
    assert not users.check_csrf(session, "é" * 43)  # not ASCII: no TypeError either


async def test_expired_sessions_are_purged(fakes: Fakes, users: UserService) -> None:
    await users.create("ann@example.com", PASSWORD, Role.VIEWER)
    await users.sign_in("ann@example.com", PASSWORD, HOME)
    fakes.clock.advance(hours=6)
    await users.sign_in("ann@example.com", PASSWORD, HOME)
    fakes.clock.advance(hours=6)
    assert await users.purge_expired() == 1
    assert len(fakes.memory.portal_sessions) == 1
