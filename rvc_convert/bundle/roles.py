"""The roles assets play in a bundle, from the family registry: shared ones (one per bundle, a key
of their own in bundle.yaml and manifest.json) and the listed one (the voices)."""

from __future__ import annotations

from ..families import BundleRole, Family, registered_families


def bundle_families() -> list[Family]:
    return [f for f in registered_families() if f.bundle_role is not None]


def shared_roles() -> list[BundleRole]:
    """One asset each, in registry order: the manifest lists them before the listed assets."""
    return [f.bundle_role for f in bundle_families() if f.bundle_role.shared]


def shared_roles_for_help() -> list[BundleRole]:
    """The shared roles in the order help text lists them: the models every voice needs first, then
    the pitch models, the one upstream prefers first."""
    families = sorted((f for f in bundle_families() if f.bundle_role.shared), key=lambda f: (bool(f.f0_methods), f.f0_preference))
    return [f.bundle_role for f in families]


def listed_role() -> BundleRole:
    """The role assets of a spec's list have (the voices)."""
    (role,) = [f.bundle_role for f in bundle_families() if not f.bundle_role.shared]
    return role


def role_named(name: str) -> BundleRole:
    return next(f.bundle_role for f in bundle_families() if f.bundle_role.name == name)


def role_of_family(family: str) -> BundleRole | None:
    return next((f.bundle_role for f in bundle_families() if f.name == family), None)
