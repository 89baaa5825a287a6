"""The transaction validator on hand-built payloads: Solana messages (solders), EVM transactions and
EIP-712 typed data; and `ValidatingSigner` refusing before the key is used."""

from __future__ import annotations

import struct
from dataclasses import replace
from typing import Any

import pytest
from eth_abi import encode
from hyperliquid.utils.signing import (
    USD_CLASS_TRANSFER_SIGN_TYPES,
    WITHDRAW_SIGN_TYPES,
    l1_payload,
    user_signed_payload,
)
from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message, MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.system_program import AssignParams, TransferParams, assign, transfer
from solders.token.associated import get_associated_token_address

from shared.assets import HYPERLIQUID_BRIDGE, SOLANA_NATIVE_MINT
from tenant_bot.risk.transaction_validator import (
    TOKEN_PROGRAM,
    USDC_ARBITRUM,
    USDC_MINT,
    TransactionPolicy,
    TransactionRejected,
    TransactionValidator,
    ValidatingSigner,
)

KAMINO = Pubkey.from_string("KLend2g3cP87fffoy8q1mQqGKjrxjC8boSyAYavgmjD")
TOKEN = Pubkey.from_string(TOKEN_PROGRAM)
USDC = Pubkey.from_string(USDC_MINT)
JITO_TIP = Pubkey.from_string("96gYZGLnJYVFmbjzopPSU6QiEV5fGqZNyN9nmNhvrZU5")

OWNER = Keypair()
ME = OWNER.pubkey()
STRANGER = Keypair().pubkey()
# A venue's custody wallet (as Asgard's on the devnet): deposits to its token accounts are allowed.
VENUE = Keypair().pubkey()
VALIDATOR = TransactionValidator(TransactionPolicy.from_config().trusting(str(VENUE)))


def v0(*ixs: Instruction, payer: Pubkey = ME, tables: list[AddressLookupTableAccount] | None = None) -> bytes:
    return to_bytes_versioned(MessageV0.try_compile(payer, list(ixs), tables or [], Hash.default()))


def legacy(*ixs: Instruction) -> bytes:
    return bytes(Message(list(ixs), ME))


def sol(to: Pubkey, lamports: int, source: Pubkey = ME) -> Instruction:
    return transfer(TransferParams(from_pubkey=source, to_pubkey=to, lamports=lamports))


def transfer_checked(
    amount: int, mint: Pubkey = USDC, authority: Pubkey = ME, decimals: int = 6, to: Pubkey = VENUE
) -> Instruction:
    return Instruction(
        TOKEN,
        bytes([12]) + struct.pack("<QB", amount, decimals),
        [
            AccountMeta(get_associated_token_address(authority, mint), False, True),
            AccountMeta(mint, False, False),
            AccountMeta(get_associated_token_address(to, mint), False, True),
            AccountMeta(authority, True, False),
        ],
    )


def lending(text: str = "asgard:open-position v1") -> Instruction:
    return Instruction(KAMINO, text.encode(), [AccountMeta(ME, True, False)])


def asgard_like_open() -> list[Instruction]:
    """What the devnet's Asgard builds for a USDC-collateral open: budget, deposit, protocol, tip."""
    return [
        set_compute_unit_limit(400_000),
        set_compute_unit_price(10_000),
        transfer_checked(1_000 * 10**6),
        lending(),
        sol(JITO_TIP, 10_000),
    ]


def rejected(message: bytes, owner: Pubkey = ME, validator: TransactionValidator = VALIDATOR) -> str:
    with pytest.raises(TransactionRejected) as err:
        validator.check_solana_message(message, owner=str(owner))
    return err.value.reason


# ---------------------------------------------------------------------- Solana
def test_an_asgard_open_passes_as_v0_and_as_legacy() -> None:
    VALIDATOR.check_solana_message(v0(*asgard_like_open()), owner=str(ME))
    VALIDATOR.check_solana_message(legacy(*asgard_like_open()), owner=str(ME))


def test_a_rogue_program_is_refused_by_name() -> None:
    rogue = Keypair().pubkey()
    ix = Instruction(rogue, b"approve-delegate owner=me amount=all", [AccountMeta(ME, True, False)])
    reason = rejected(v0(*asgard_like_open(), ix))
    assert str(rogue) in reason and "instruction 5" in reason and "not on the allow-list" in reason
    assert str(rogue) in rejected(legacy(ix))


def test_a_program_allowed_by_policy_passes() -> None:
    rogue = Keypair().pubkey()
    ix = Instruction(rogue, b"x", [AccountMeta(ME, True, False)])
    TransactionValidator(VALIDATOR.policy.allowing_programs(str(rogue))).check_solana_message(
        v0(ix), owner=str(ME)
    )


def test_a_big_sol_transfer_to_a_stranger_is_refused() -> None:
    VALIDATOR.check_solana_message(v0(sol(STRANGER, 10_000_000)), owner=str(ME))  # exactly the cap
    reason = rejected(v0(sol(STRANGER, 10_000_000), sol(JITO_TIP, 1)))  # summed per transaction
    assert "0.010000001 SOL" in reason and "0.01 SOL allowed" in reason
    reason = rejected(v0(sol(STRANGER, 5 * 10**9)))
    assert "5 SOL" in reason


def test_sol_to_ourselves_to_trusted_accounts_or_from_others_is_not_capped_as_a_tip() -> None:
    wsol = get_associated_token_address(ME, Pubkey.from_string(SOLANA_NATIVE_MINT))
    custody = Keypair().pubkey()
    trusting = TransactionValidator(VALIDATOR.policy.trusting(str(custody)))
    trusting.check_solana_message(v0(sol(wsol, 10**12), sol(custody, 10**12)), owner=str(ME))
    # Asgard's custody paying us back (custody co-signs): not our money leaving.
    VALIDATOR.check_solana_message(v0(sol(ME, 10**12, source=custody)), owner=str(ME))
    assert str(custody) not in rejected(v0(sol(custody, 10**12)))  # untrusted by default: capped


def test_the_owner_must_be_a_signer() -> None:
    other = Keypair().pubkey()
    reason = rejected(v0(sol(STRANGER, 1, source=other), payer=other))
    assert f"does not ask the wallet {ME} to sign" in reason


def test_program_ids_from_a_lookup_table_are_refused() -> None:
    rogue = Keypair().pubkey()
    table = AddressLookupTableAccount(Keypair().pubkey(), [rogue, STRANGER])
    # The compiler keeps program ids static; rewrite one instruction to point into the table.
    msg = MessageV0.try_compile(
        ME,
        [Instruction(KAMINO, b"x", [AccountMeta(ME, True, False), AccountMeta(rogue, False, False)])],
        [table],
        Hash.default(),
    )
    assert len(msg.address_table_lookups) == 1
    loaded = len(msg.account_keys)  # first index past the static keys: the table's first address
    raw = bytearray(to_bytes_versioned(msg))
    ix = msg.instructions[0]
    compiled = bytes([ix.program_id_index]) + bytes([len(bytes(ix.accounts))]) + bytes(ix.accounts)
    at = bytes(raw).index(compiled)
    raw[at] = loaded
    reason = rejected(bytes(raw))
    assert "address lookup table" in reason and "instruction 0" in reason


def test_usdc_transfer_cap_and_refused_token_instructions() -> None:
    VALIDATOR.check_solana_message(v0(transfer_checked(100_000 * 10**6)), owner=str(ME))
    reason = rejected(v0(transfer_checked(100_000 * 10**6 + 1)))
    assert "100000.000001 USDC" in reason
    approve = Instruction(
        TOKEN,
        bytes([4]) + struct.pack("<Q", 2**64 - 1),
        [
            AccountMeta(get_associated_token_address(ME, USDC), False, True),
            AccountMeta(STRANGER, False, False),
            AccountMeta(ME, True, False),
        ],
    )
    assert "Approve" in rejected(v0(approve))
    wsol = get_associated_token_address(ME, Pubkey.from_string(SOLANA_NATIVE_MINT))
    close_into_stranger = Instruction(
        TOKEN,
        bytes([9]),
        [AccountMeta(wsol, False, True), AccountMeta(STRANGER, False, True), AccountMeta(ME, True, False)],
    )
    assert str(STRANGER) in rejected(v0(close_into_stranger))


def test_assigning_the_wallet_and_huge_priority_fees_are_refused() -> None:
    assert "assigns the wallet" in rejected(v0(assign(AssignParams(pubkey=ME, owner=KAMINO))))
    greedy = [set_compute_unit_limit(1_400_000), set_compute_unit_price(10**7)]  # 0.014 SOL of priority fee
    reason = rejected(v0(*greedy, lending()))
    assert "priority fee is 0.014 SOL" in reason


def test_garbage_is_refused_cleanly() -> None:
    assert "not a Solana transaction message" in rejected(b"\x80\x01\x02")
    assert "version 5" in rejected(b"\x85" + b"\x00" * 10)
    assert "empty" in rejected(b"")


# ---------------------------------------------------------------------- EVM
BRIDGE = HYPERLIQUID_BRIDGE


def usdc_call(selector: str, *args: Any, types: tuple[str, ...] = ("address", "uint256")) -> dict[str, Any]:
    data = "0x" + selector + encode(list(types), list(args)).hex()
    return {
        "chainId": 42161,
        "nonce": 0,
        "to": USDC_ARBITRUM,
        "value": 0,
        "data": data,
        "gas": 90_000,
        "maxFeePerGas": 20_000_000,
    }


def evm_rejected(tx: dict[str, Any]) -> str:
    with pytest.raises(TransactionRejected) as err:
        VALIDATOR.check_evm_transaction(tx)
    return err.value.reason


def test_a_bridge_deposit_passes() -> None:
    VALIDATOR.check_evm_transaction(usdc_call("a9059cbb", BRIDGE, 250 * 10**6))
    VALIDATOR.check_evm_transaction(usdc_call("a9059cbb", BRIDGE.lower(), 5 * 10**6))


def test_evm_to_a_contract_that_is_not_allow_listed() -> None:
    other = "0xFF970A61A04b1cA14834A43f5dE4533eBDDB5CC8"  # bridged USDC.e
    reason = evm_rejected({**usdc_call("a9059cbb", BRIDGE, 10**6), "to": other})
    assert other in reason and "not an allow-listed contract" in reason


def test_usdc_to_a_non_bridge_address_and_other_usdc_calls() -> None:
    stranger = "0x" + "12" * 20
    reason = evm_rejected(usdc_call("a9059cbb", stranger, 10**6))
    assert "0x1212121212121212121212121212121212121212" in reason and "of 1 to" in reason
    assert "0x095ea7b3" in evm_rejected(usdc_call("095ea7b3", BRIDGE, 2**256 - 1))  # approve


def test_evm_amounts_chain_and_value() -> None:
    assert "100000.000001" in evm_rejected(usdc_call("a9059cbb", BRIDGE, 100_000 * 10**6 + 1))
    assert "would be lost" in evm_rejected(usdc_call("a9059cbb", BRIDGE, 4_999_999))
    assert "chain id 1 " in evm_rejected({**usdc_call("a9059cbb", BRIDGE, 10**7), "chainId": 1})
    assert "wei of ETH" in evm_rejected({**usdc_call("a9059cbb", BRIDGE, 10**7), "value": 1})
    assert "contract creation" in evm_rejected({**usdc_call("a9059cbb", BRIDGE, 10**7), "to": None})


# ---------------------------------------------------------------------- EIP-712
OWN_EVM = "0x" + "ab" * 20


def typed_rejected(typed: dict[str, Any]) -> str:
    with pytest.raises(TransactionRejected) as err:
        VALIDATOR.check_typed_data(typed, owner_evm=OWN_EVM)
    return err.value.reason


def withdraw(destination: str, amount: str = "100") -> dict[str, Any]:
    action = {
        "hyperliquidChain": "Mainnet",
        "signatureChainId": "0x66eee",
        "destination": destination,
        "amount": amount,
        "time": 1,
    }
    return user_signed_payload("HyperliquidTransaction:Withdraw", WITHDRAW_SIGN_TYPES, action)


def test_a_bare_phantom_agent_is_refused_and_class_transfer_passes() -> None:
    # A connectionId alone could be the hash of any action: L1 actions are signed from the action.
    assert "phantom Agent" in typed_rejected(l1_payload({"source": "a", "connectionId": b"\x00" * 32}))
    action = {
        "hyperliquidChain": "Mainnet",
        "signatureChainId": "0x66eee",
        "amount": "50",
        "toPerp": True,
        "nonce": 1,
    }
    VALIDATOR.check_typed_data(
        user_signed_payload("HyperliquidTransaction:UsdClassTransfer", USD_CLASS_TRANSFER_SIGN_TYPES, action)
    )


def test_withdrawals_only_to_our_own_or_allow_listed_addresses() -> None:
    VALIDATOR.check_typed_data(withdraw(OWN_EVM), owner_evm=OWN_EVM.upper().replace("0X", "0x"))
    stranger = "0x" + "cd" * 20
    reason = typed_rejected(withdraw(stranger))
    assert stranger in reason and "100 USDC" in reason
    allowing = TransactionValidator(replace(VALIDATOR.policy, hyperliquid_destinations=frozenset({stranger})))
    allowing.check_typed_data(withdraw(stranger))
    assert "more than the 100000 USDC" in typed_rejected(withdraw(OWN_EVM, "100001"))


def test_foreign_domains_and_actions_are_refused() -> None:
    permit = {
        "domain": {"name": "USD Coin", "version": "2", "chainId": 42161, "verifyingContract": USDC_ARBITRUM},
        "types": {"Permit": []},
        "primaryType": "Permit",
        "message": {"spender": "0x" + "cd" * 20, "value": 2**255},
    }
    reason = typed_rejected(permit)
    assert "'USD Coin'" in reason and USDC_ARBITRUM in reason
    wrong_chain = l1_payload({"source": "a", "connectionId": b"\x00" * 32})
    wrong_chain["domain"] = {**wrong_chain["domain"], "chainId": 1}
    assert "chainId 1337" in typed_rejected(wrong_chain)
    agent = withdraw(OWN_EVM)
    agent["primaryType"] = "HyperliquidTransaction:ApproveAgent"
    assert "ApproveAgent" in typed_rejected(agent)
    swapped = withdraw(OWN_EVM)
    swapped["types"]["HyperliquidTransaction:Withdraw"] = swapped["types"]["HyperliquidTransaction:Withdraw"][
        :3
    ]
    assert "signed fields" in typed_rejected(swapped)


# ---------------------------------------------------------------------- ValidatingSigner
class RecordingSigner:
    """A stand-in key holder that records what it was asked to sign (the real ones live elsewhere)."""

    solana_address = str(ME)
    evm_address = OWN_EVM

    def __init__(self) -> None:
        self.signed: list[str] = []

    async def sign_solana_message(self, message: bytes) -> bytes:
        self.signed.append("solana")
        return bytes(OWNER.sign_message(message))

    async def sign_typed_data(self, typed_data: dict[str, Any]) -> dict[str, Any]:
        self.signed.append("typed")
        return {"r": "0x1", "s": "0x2", "v": 27}

    async def sign_hyperliquid_l1(
        self, action: dict[str, Any], nonce: int, *, mainnet: bool, expires_after: int | None = None
    ) -> dict[str, Any]:
        self.signed.append("l1")
        return {"r": "0x1", "s": "0x2", "v": 27}

    async def sign_evm_transaction(self, tx: dict[str, Any]) -> bytes:
        self.signed.append("evm")
        return b"\x02"


async def test_validating_signer_refuses_before_the_key_signs() -> None:
    inner = RecordingSigner()
    signer = ValidatingSigner(inner, VALIDATOR)
    assert signer.owner == str(ME) and signer.evm_address == OWN_EVM
    good = v0(*asgard_like_open())
    assert len(await signer.sign_solana_message(good)) == 64
    with pytest.raises(TransactionRejected):
        await signer.sign_solana_message(v0(sol(STRANGER, 10**9)))
    await signer.sign_typed_data(withdraw(OWN_EVM))  # own address: allowed through the inner signer
    with pytest.raises(TransactionRejected):
        await signer.sign_typed_data(withdraw("0x" + "cd" * 20))
    await signer.sign_evm_transaction(usdc_call("a9059cbb", BRIDGE, 10**7))
    with pytest.raises(TransactionRejected):
        await signer.sign_evm_transaction(usdc_call("a9059cbb", "0x" + "12" * 20, 10**7))
    order = {
        "type": "order",
        "orders": [{"a": 5, "b": True, "p": "1", "s": "1", "r": False}],
        "grouping": "na",
    }
    order["orders"][0]["t"] = {"limit": {"tif": "Ioc"}}
    await signer.sign_hyperliquid_l1(order, 1, mainnet=False)
    with pytest.raises(TransactionRejected):
        await signer.sign_hyperliquid_l1({"type": "withdraw3", "amount": "1"}, 2, mainnet=False)
    with pytest.raises(TransactionRejected):  # the phantom agent itself never reaches the key
        await signer.sign_typed_data(l1_payload({"source": "a", "connectionId": b"\x00" * 32}))
    assert inner.signed == ["solana", "typed", "evm", "l1"]
