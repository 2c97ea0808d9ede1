"""
Authenticators whose system users come from restuser, not from useradd in the container.

The hub runs in a container without the host's users, so LocalAuthenticator's pwd lookup
and ``adduser`` cannot work there. ``RestuserMixin`` replaces them (as compmodels'
DockerOAuthenticator did): ``system_user_exists`` asks restuser (``GET /users/<name>``),
``add_system_user`` has restuser create the user (``POST /users/<name>``, idempotent) and
hands the uid/gid to the user's spawner state for SwarmSystemUserSpawner.

Names that cannot be system accounts (Google usernames with dots or capitals, reserved
names: jupyterhub#369) are refused at login with a clear page, and nothing is created.
Staff accounts (fixed uids, made by salt) are never sent to restuser.
"""

from jupyterhub import orm
from jupyterhub.auth import LocalAuthenticator
from jupyterhub.authenticators.shared import SharedPasswordAuthenticator
from oauthenticator.google import LocalGoogleOAuthenticator
from tornado import web
from traitlets import Bool, Dict, Float, Set, Unicode, default

from .restuser import (
    DEFAULT_SOCKET,
    SAFE_NAME_RE,
    RestuserClient,
    RestuserError,
    RestuserUnavailable,
    is_safe_name,
)


class RestuserMixin(LocalAuthenticator):
    """LocalAuthenticator whose system users live in restuser on the hub host."""

    restuser_socket = Unicode(
        DEFAULT_SOCKET,
        config=True,
        help="""
        restuser's unix socket, bind-mounted into the hub container from the hub host.
        """,
    )

    restuser_timeout = Float(
        10.0,
        config=True,
        help="Seconds to wait for restuser before a login fails with 503.",
    )

    reserved_names = Set(
        config=True,
        help="""
        Names no login may map to (the site pillar's users:reserved_names, which restuser
        refuses as well): root, Debian's system accounts and groups, our services.
        """,
    )

    fixed_accounts = Dict(
        config=True,
        help="""
        System accounts that exist outside restuser (staff, created by salt with fixed
        uids): ``{name: {"uid": int, "gid": int}}``. They are never sent to restuser.
        """,
    )

    ensure_on_login = Bool(
        True,
        config=True,
        help="""
        Ask restuser for the account on every login, not only a user's first: a login
        after restuser was down then creates what the failed one could not.
        """,
    )

    @default("create_system_users")
    def _default_create_system_users(self):
        return True

    @property
    def restuser(self):
        return RestuserClient(self.restuser_socket, timeout=self.restuser_timeout)

    # --- names -------------------------------------------------------------------------

    def check_system_name(self, name):
        """Raise a 403 with a clear page for a name that cannot be a system account."""
        if not is_safe_name(name, self.reserved_names):
            self.log.warning("Refusing login of %r: not a safe system user name", name)
            raise web.HTTPError(
                403,
                f"Your username '{name}' cannot be used as an account name here: names must "
                f"match {SAFE_NAME_RE.pattern} (lower-case letters, digits, '-' and '_', "
                "starting with a letter) and not be a reserved name. No account was "
                "created; please ask the course staff.",
            )

    async def authenticate(self, handler, data=None):
        auth_model = await super().authenticate(handler, data)
        if auth_model is None:
            return None
        name = auth_model["name"] if isinstance(auth_model, dict) else auth_model
        self.check_system_name(self.normalize_username(name))
        return auth_model

    async def run_post_auth_hook(self, handler, auth_model):
        auth_model = await super().run_post_auth_hook(handler, auth_model)
        if self.create_system_users and self.ensure_on_login:
            account = await self.ensure_account(auth_model["name"])
            auth_state = dict(auth_model.get("auth_state") or {})
            auth_state["system_account"] = account
            auth_model["auth_state"] = auth_state
        return auth_model

    # --- restuser ----------------------------------------------------------------------

    async def ensure_account(self, name):
        """The account of ``name``, created by restuser if needed; HTTP errors for users."""
        self.check_system_name(name)
        fixed = self.fixed_accounts.get(name)
        if fixed:
            return {
                "name": name,
                "uid": int(fixed["uid"]),
                "gid": int(fixed.get("gid", fixed["uid"])),
                "home": f"/home/{name}",
            }
        try:
            account = await self.restuser.create_user(name)
        except RestuserUnavailable as exc:
            self.log.error("Cannot create the system user %s: %s", name, exc)
            raise web.HTTPError(
                503,
                "The account service (restuser) on the hub is not answering, so your "
                "account cannot be set up. Nothing was created; please try again in a "
                "minute, and tell the course staff if this persists.",
            ) from exc
        except RestuserError as exc:
            self.log.error("restuser refused to create %s: %s", name, exc)
            raise web.HTTPError(
                403 if 400 <= exc.status < 500 else 503,
                f"Your system account could not be created: {exc.reason}",
            ) from exc
        self.log.info("System user %s: uid %s, gid %s", name, account["uid"], account["gid"])
        return account

    async def system_user_exists(self, user):
        """Ask restuser (or fixed_accounts) instead of pwd: the container has no users."""
        if user.name in self.fixed_accounts:
            return True
        if not is_safe_name(user.name, self.reserved_names):
            return False
        try:
            account = await self.restuser.get_user(user.name)
        except (RestuserUnavailable, RestuserError) as exc:
            self.log.error("Cannot look up the system user %s: %s", user.name, exc)
            raise
        if account:
            remember_account(user, account)
        return account is not None

    async def add_system_user(self, user):
        """Have restuser create the user and keep its uid/gid in the spawner state."""
        account = await self.ensure_account(user.name)
        remember_account(user, account)


def remember_account(user, account):
    """Put uid/gid into the state of the user's default spawner, when there is one.

    ``user`` is JupyterHub's User wrapper at login (it has a spawner and a db session);
    at hub start-up it can be a bare ORM user, which has neither: the spawner then looks
    the account up in restuser itself.
    """
    if isinstance(user, orm.User) or not hasattr(user, "spawner"):
        return
    spawner = user.spawner
    if not hasattr(spawner, "user_id"):
        return
    spawner.user_id = account["uid"]
    spawner.group_id = account["gid"]
    orm_spawner = getattr(spawner, "orm_spawner", None)
    if orm_spawner is not None and not spawner.active:
        orm_spawner.state = spawner.get_state()
        db = getattr(user, "db", None)
        if db is not None:
            db.commit()


class RestuserGoogleOAuthenticator(RestuserMixin, LocalGoogleOAuthenticator):
    """Google login; each user gets a system account from restuser."""


class RestuserSharedPasswordAuthenticator(RestuserMixin, SharedPasswordAuthenticator):
    """One shared password (a workshop without Google); accounts from restuser."""
