"""Who may change what: the one place the policy lives.

With staff sign-in off (no accounts: a single-user computer) everything is allowed. With it on:

- admins manage models, the practice profile (name, signature, NPI used in letters), the shared
  presets and the staff accounts;
- staff keep their own drafts, use every preset and try edits in the editor preview. The user
  layer of presets (``<data>/presets``) is shared by everyone on the computer, so saving,
  deleting and importing presets is for admins.

A damaged accounts file allows nothing (it never opens the app to everyone). Every handler that
changes one of these things asks ``may`` (or ``require``) on the server; the page only mirrors it.
"""

from __future__ import annotations

from enum import StrEnum

from assistant.security.accounts import AccountsDamaged, AccountStore, AuthError


class Action(StrEnum):
    MANAGE_MODELS = "manage_models"  # switch or add a model
    EDIT_PROFILE = "edit_profile"  # the practice profile, its signature and NPIs
    EDIT_SHARED_PRESETS = "edit_shared_presets"  # save, delete or import presets
    MANAGE_ACCOUNTS = "manage_accounts"  # add, remove, unlock, set passwords
    OWN_DRAFTS = "own_drafts"  # keep, open, export and delete one's own drafts


ADMIN_ONLY = frozenset({Action.MANAGE_MODELS, Action.EDIT_PROFILE, Action.EDIT_SHARED_PRESETS, Action.MANAGE_ACCOUNTS})
WORDS = {
    Action.MANAGE_MODELS: "change models",
    Action.EDIT_PROFILE: "change the practice profile",
    Action.EDIT_SHARED_PRESETS: "save, delete or import presets (they are shared by everyone on this computer)",
    Action.MANAGE_ACCOUNTS: "manage staff accounts",
    Action.OWN_DRAFTS: "keep drafts",
}


class NotAllowed(AuthError):
    """Raised when the signed-in person's role does not allow the action; the message says whom to ask."""


def may(accounts: AccountStore, user: str, action: Action) -> bool:
    """Whether ``user`` (the signed-in name, "" when nobody is) may do ``action`` now."""
    try:
        if not accounts.enabled:
            return True
        account = accounts.get(user)
    except AccountsDamaged:
        return False
    if account is None:
        return False
    return account.is_admin or action not in ADMIN_ONLY


def refusal(accounts: AccountStore, action: Action) -> str:
    """One plain line: what only an administrator can do, and whom to ask."""
    admins = accounts.admins()
    ask = f" Ask {_or(admins)}." if admins else " Ask your practice's administrator."
    return f"Only an administrator can {WORDS[action]}.{ask}"


def require(accounts: AccountStore, user: str, action: Action) -> None:
    """NotAllowed (with ``refusal``'s words) unless ``may``."""
    if not may(accounts, user, action):
        raise NotAllowed(refusal(accounts, action))


def _or(names: list[str]) -> str:
    if len(names) <= 2:
        return " or ".join(names)
    return ", ".join(names[:-1]) + " or " + names[-1]
