"""Request bodies of the auth and REST APIs, as Privy's SDK types define them.

Unknown fields are ignored (Privy's SDKs send fields the devnet has no use for, such as `caip2`);
a field of the wrong type or a missing required field is a 400 `invalid_data` naming the field.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from devnet.privy.errors import invalid_data

M = TypeVar("M", bound=BaseModel)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PasswordlessInit(_Body):
    email: StrictStr
    token: StrictStr | None = None  # captcha token: accepted, not checked


class PasswordlessAuthenticate(_Body):
    email: StrictStr
    code: StrictStr
    mode: Literal["login-or-sign-up", "no-signup"] | None = None


class RefreshInput(_Body):
    refresh_token: StrictStr | None = None


class AdditionalSigner(_Body):
    signer_id: StrictStr
    override_policy_ids: list[StrictStr] | None = Field(default=None, max_length=1)

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class WalletSpec(_Body):
    chain_type: StrictStr
    additional_signers: list[AdditionalSigner] | None = None
    policy_ids: list[StrictStr] | None = Field(default=None, max_length=1)
    external_id: StrictStr | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    create_smart_wallet: StrictBool | None = None


class LinkedAccountInput(_Body):
    type: StrictStr
    address: StrictStr | None = None


class CreateUser(_Body):
    linked_accounts: list[LinkedAccountInput] = Field(min_length=1)
    custom_metadata: dict[str, StrictStr | StrictInt | float | StrictBool] | None = None
    wallets: list[WalletSpec] | None = None
    # Older flags some clients still send.
    create_ethereum_wallet: StrictBool | None = None
    create_solana_wallet: StrictBool | None = None


class PregenerateWallets(_Body):
    wallets: list[WalletSpec] = Field(min_length=1, max_length=10)


class EmailAddress(_Body):
    address: StrictStr


class OwnerInput(_Body):
    user_id: StrictStr | None = None
    public_key: StrictStr | None = None


class CreateWallet(_Body):
    chain_type: StrictStr
    owner: OwnerInput | None = None
    owner_id: StrictStr | None = None
    additional_signers: list[AdditionalSigner] | None = None
    policy_ids: list[StrictStr] | None = Field(default=None, max_length=1)
    display_name: StrictStr | None = Field(default=None, max_length=100)
    external_id: StrictStr | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class UpdateWallet(_Body):
    owner: OwnerInput | None = None
    owner_id: StrictStr | None = None
    additional_signers: list[AdditionalSigner] | None = None
    policy_ids: list[StrictStr] | None = Field(default=None, max_length=1)
    display_name: StrictStr | None = Field(default=None, max_length=100)


class CreateKeyQuorum(_Body):
    public_keys: list[StrictStr] | None = None
    authorization_threshold: StrictInt | None = Field(default=None, ge=1)
    display_name: StrictStr | None = Field(default=None, max_length=50)
    user_ids: list[StrictStr] | None = None
    key_quorum_ids: list[StrictStr] | None = Field(default=None, max_length=5)


def parse(model: type[M], body: Any) -> M:
    if not isinstance(body, dict):
        raise invalid_data("the request body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise invalid_data(f"{where}: {first['msg']}") from None
