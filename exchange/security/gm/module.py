"""A certified cryptographic module (密码机, HSM) in place of the software SM2 signer.

GB/T 39786 level 3 asks that keys be held and used in a module certified by the 国家密码管理局
(GM/T 0028); no software library is one. A vendor plugs its module in without touching the hub:

- it ships a Python package with a factory, ``package.module:factory``, that returns an
  :class:`Sm2Module` (its SDK session, its PKCS#11 slot, its 密码机 connection);
- the hub's operator names it in ``TONGBAN_SM2_MODULE`` (``sm2_module`` in ``tongban.toml``)
  and provisions, inside the module, the log's checkpoint key under the label
  ``TONGBAN_SM2_CHECKPOINT_KEY`` (default ``tongban-audit-checkpoint``).

The hub then asks the module, under the ``gm`` profile only:

- for every new JWS signing key (``tongban keys rotate``, the first key): :meth:`Sm2Module.generate`
  with a fresh label; the key store keeps the label (sealed, as it seals a software key) and the
  public key, never a private key;
- for a stored key, in every worker: :meth:`Sm2Module.signer` with its label;
- for the checkpoint key: :meth:`Sm2Module.signer` with the configured label (instead of deriving
  it from the master secret; the log's verifier key is then the module key's).

:func:`module_signer` checks every signer a module hands back before the hub uses it, in this
order: it is an :class:`~exchange.security.gm.sm2.Sm2Signer`; its public key is the one the hub
expects (for a stored key); its signature over a fixed message verifies in software. A module
that cannot be loaded, or a signer that fails a check, stops the hub with
:class:`~exchange.security.errors.HubKeyUnavailable`, naming the module and the label only.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Protocol, runtime_checkable

from exchange.security.errors import HubKeyUnavailable
from exchange.security.gm.sm2 import Sm2PublicKey, Sm2Signer

__all__ = [
    "DEFAULT_CHECKPOINT_KEY",
    "MODULE_HANDLE",
    "Sm2Module",
    "load_module",
    "module_signer",
]

DEFAULT_CHECKPOINT_KEY = "tongban-audit-checkpoint"
MODULE_HANDLE = b"tongban-sm2-module-key\n"
"""What the key store seals for a module's key, followed by its label (UTF-8): a software key's
sealed bytes are a 32-byte scalar, so the two never look alike."""
_SELF_TEST = b"tongban sm2 module self-test"
MAX_LABEL_BYTES = 255


@runtime_checkable
class Sm2Module(Protocol):
    """A cryptographic module holding SM2 keys by label."""

    def generate(self, label: str) -> Sm2Signer:
        """A new SM2 key pair made and kept inside the module under *label*."""
        ...

    def signer(self, label: str) -> Sm2Signer:
        """The module's existing key named *label*."""
        ...


@cache
def load_module(spec: str) -> Sm2Module:
    """The module of ``package.module:factory`` (the factory is called once per process)."""
    path, _, name = spec.partition(":")
    if not path or not name:
        raise HubKeyUnavailable(
            f"TONGBAN_SM2_MODULE is {spec!r}: name the module's factory as package.module:factory"
        )
    try:
        factory = getattr(importlib.import_module(path), name)
        module = factory()
    except Exception as exc:  # noqa: BLE001 - a vendor SDK raises its own kinds
        raise HubKeyUnavailable(
            f"the SM2 module {spec} could not be started ({type(exc).__name__})"
        ) from None
    if not isinstance(module, Sm2Module):
        raise HubKeyUnavailable(f"the SM2 module {spec} has no generate(label) and signer(label)")
    return module


def module_signer(
    module: Sm2Module,
    label: str,
    *,
    generate: bool = False,
    expected: Sm2PublicKey | None = None,
) -> Sm2Signer:
    """The module's signer of *label* (a new key when *generate*), checked as the module
    docstring says."""
    if not label or len(label.encode("utf-8")) > MAX_LABEL_BYTES or "\n" in label:
        raise HubKeyUnavailable("an SM2 module key label is 1 to 255 bytes on one line")
    try:
        signer = module.generate(label) if generate else module.signer(label)
    except Exception as exc:  # noqa: BLE001 - a vendor SDK raises its own kinds
        raise HubKeyUnavailable(
            f"the SM2 module has no usable key {label!r} ({type(exc).__name__})"
        ) from None
    if not isinstance(signer, Sm2Signer):
        raise HubKeyUnavailable(f"the SM2 module's key {label!r} is not an SM2 signer")
    if expected is not None and signer.public_key != expected:
        raise HubKeyUnavailable(f"the SM2 module's key {label!r} is not the stored public key")
    try:
        signer.public_key.verify(signer.sign(_SELF_TEST), _SELF_TEST)
    except Exception as exc:  # noqa: BLE001 - GmSignatureInvalid, or the vendor's own
        raise HubKeyUnavailable(
            f"the SM2 module's key {label!r} does not sign verifiably ({type(exc).__name__})"
        ) from None
    return signer
