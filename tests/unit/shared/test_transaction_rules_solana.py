"""Every rule of the shared transaction policy on Solana messages, one by one: each refusal with the
whole sentence the operator and the user read, each allowed boundary (exactly at a cap), and the
`Outflow` each allowed message returns. The destinations themselves (own, venue, withdrawal,
elsewhere) are covered in test_transaction_destinations.py; these tables pin the rest of the reading:
System instructions, the compute budget, message parsing, token instruction edge cases."""

from __future__ import annotations

import struct
from decimal import Decimal

import pytest
from solders.hash import Hash
from solders.instruction import AccountMeta, CompiledInstruction, Instruction
from solders.keypair import Keypair
from solders.message import (
    Message,
    MessageAddressTableLookup,
    MessageHeader,
    MessageV0,
    to_bytes_versioned,
)
from solders.pubkey import Pubkey
from solders.system_program import (
    AllocateParams,
    AssignParams,
    CreateAccountParams,
    CreateAccountWithSeedParams,
    TransferWithSeedParams,
    WithdrawNonceAccountParams,
    allocate,
    assign,
    create_account,
    create_account_with_seed,
    transfer_with_seed,
    withdraw_nonce_account,
)

from shared.assets import SOLANA_NATIVE_MINT, Asset
from shared.transaction_policy import (
    ATA_PROGRAM,
    COMPUTE_BUDGET_PROGRAM,
    SYSTEM_PROGRAM,
    Outflow,
    TransactionPolicy,
    TransactionRejected,
    TransactionValidator,
    WithdrawalAddresses,
)
from tests.unit.shared.test_transaction_destinations import (
    JITOSOL,
    MINE,
    OWNER,
    POLICY,
    REGISTERED,
    STRANGER,
    TOKEN,
    USDC,
    VALIDATOR,
    VENUE,
    ata,
    send,
    sol,
    token_ix,
)

SYSTEM = Pubkey.from_string(SYSTEM_PROGRAM)
BUDGET = Pubkey.from_string(COMPUTE_BUDGET_PROGRAM)
ATA = Pubkey.from_string(ATA_PROGRAM)
WSOL_ACCOUNT = ata(OWNER, Pubkey.from_string(SOLANA_NATIVE_MINT))
NEW = Keypair().pubkey()
ROGUE = Pubkey.from_string("Rogue11111111111111111111111111111111111111")


def v0(*ixs: Instruction, payer: Pubkey = OWNER) -> bytes:
    return to_bytes_versioned(MessageV0.try_compile(payer, list(ixs), [], Hash.default()))


def legacy(*ixs: Instruction, payer: Pubkey = OWNER) -> bytes:
    return bytes(Message.new_with_blockhash(list(ixs), payer, Hash.default()))


def check(raw: bytes, validator: TransactionValidator = VALIDATOR) -> Outflow:
    return validator.check_solana_message(raw, owner=str(OWNER), withdrawal=REGISTERED)


def refused(raw: bytes, validator: TransactionValidator = VALIDATOR) -> str:
    with pytest.raises(TransactionRejected) as err:
        check(raw, validator)
    return err.value.reason


def budget_ix(data: bytes) -> Instruction:
    return Instruction(BUDGET, data, [])


def unit_limit(units: int) -> Instruction:
    return budget_ix(b"\x02" + struct.pack("<I", units))


def unit_price(micro: int) -> Instruction:
    return budget_ix(b"\x03" + struct.pack("<Q", micro))


def system_ix(data: bytes, *accounts: Pubkey) -> Instruction:
    metas = [AccountMeta(a, a == OWNER, True) for a in accounts]
    return Instruction(SYSTEM, data, metas)


def with_loaded_keys(static: list[Pubkey], instructions: list[CompiledInstruction], tables: int = 1) -> bytes:
    """A v0 message whose instructions may name accounts (or program ids) loaded from `tables` address
    lookup tables: indices from len(static) on."""
    lookups = [MessageAddressTableLookup(Keypair().pubkey(), bytes([0]), bytes([1])) for _ in range(tables)]
    msg = MessageV0(MessageHeader(1, 0, 1), static, Hash.default(), instructions, lookups)
    return to_bytes_versioned(msg)


# ---------------------------------------------------------------------- who signs, which programs
def test_a_message_the_wallet_does_not_sign_is_refused_naming_every_signer() -> None:
    other = Keypair().pubkey()
    both = Instruction(
        Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"),
        b"hi",
        [AccountMeta(other, True, False)],
    )
    assert refused(v0(both, payer=STRANGER)) == (
        f"the transaction does not ask the wallet {OWNER} to sign (signers: {STRANGER}, {other})"
    )


def test_a_program_off_the_allow_list_is_refused_by_name_and_position() -> None:
    rogue = Instruction(ROGUE, b"", [AccountMeta(OWNER, True, True)])
    assert refused(v0(unit_limit(1000), rogue)) == (
        f"instruction 1 calls program {ROGUE}, which is not on the allow-list of programs this wallet "
        "may invoke"
    )


@pytest.mark.parametrize(("tables", "said"), [(1, "1 table referenced"), (2, "2 tables referenced")])
def test_a_program_id_from_a_lookup_table_is_refused(tables: int, said: str) -> None:
    static = [OWNER, BUDGET]
    # Index 2 is the first loaded address (exactly one past the static keys).
    raw = with_loaded_keys(
        static, [CompiledInstruction(1, b"", b""), CompiledInstruction(2, b"", b"")], tables
    )
    assert refused(raw) == (
        f"instruction 1 takes its program id from an address lookup table ({said}); program ids must be "
        "static account keys so they can be checked"
    )


def test_a_legacy_message_reads_like_a_v0_one() -> None:
    """A legacy message has one signer here: its first byte (1) has no version bit."""
    assert check(legacy(sol(MINE, 2 * 10**9))) == Outflow({Asset.SOL: Decimal(2)})
    assert refused(legacy(sol(STRANGER, 2 * 10**7))) == (
        "the transaction moves 0.02 SOL from the wallet to accounts that are not ours, more than the "
        "0.01 SOL allowed per transaction"
    )
    # A legacy message cannot load addresses: a program id past its keys names no table.
    msg = Message.new_with_compiled_instructions(
        1, 0, 1, [OWNER, SYSTEM], Hash.default(), [CompiledInstruction(2, b"", b"")]
    )
    assert refused(bytes(msg)) == (
        "instruction 0 takes its program id from an address lookup table (0 tables referenced); program "
        "ids must be static account keys so they can be checked"
    )


def test_unreadable_messages_are_refused() -> None:
    assert refused(b"") == "an empty Solana message"
    assert refused(bytes([0x81]) + v0(sol(MINE, 1))[1:]) == "Solana message version 1 is not supported"
    assert refused(b"\x01\x02").startswith("not a Solana transaction message: ")


# ---------------------------------------------------------------------- System instructions
SEED = "abc"
DERIVED = Pubkey.create_with_seed(OWNER, SEED, SYSTEM)
NONCE = Keypair().pubkey()


def _create_with_seed(lamports: int) -> Instruction:
    return create_account_with_seed(
        CreateAccountWithSeedParams(
            from_pubkey=OWNER,
            to_pubkey=DERIVED,
            base=OWNER,
            seed=SEED,
            lamports=lamports,
            space=0,
            owner=SYSTEM,
        )
    )


def _transfer_with_seed(to: Pubkey, lamports: int) -> Instruction:
    return transfer_with_seed(
        TransferWithSeedParams(
            from_pubkey=DERIVED,
            from_base=OWNER,
            from_seed=SEED,
            from_owner=SYSTEM,
            to_pubkey=to,
            lamports=lamports,
        )
    )


def _withdraw_nonce(to: Pubkey, lamports: int) -> Instruction:
    return withdraw_nonce_account(
        WithdrawNonceAccountParams(
            nonce_pubkey=NONCE, authorized_pubkey=OWNER, to_pubkey=to, lamports=lamports
        )
    )


@pytest.mark.parametrize(
    ("ix", "outflow"),
    [
        (sol(STRANGER, 1_234_567), {Asset.SOL: Decimal("0.001234567")}),
        (sol(WSOL_ACCOUNT, 10**9), {}),  # into the wallet's own wrapped SOL
        (
            create_account(
                CreateAccountParams(
                    from_pubkey=OWNER, to_pubkey=NEW, lamports=1_234_567, space=0, owner=SYSTEM
                )
            ),
            {Asset.SOL: Decimal("0.001234567")},
        ),
        (_create_with_seed(2_345_678), {Asset.SOL: Decimal("0.002345678")}),
        (_transfer_with_seed(STRANGER, 3_456_789), {Asset.SOL: Decimal("0.003456789")}),
        (_transfer_with_seed(MINE, 5 * 10**9), {Asset.SOL: Decimal(5)}),
        (_transfer_with_seed(OWNER, 5 * 10**9), {}),
        (_withdraw_nonce(STRANGER, 4_567_891), {Asset.SOL: Decimal("0.004567891")}),
        (_withdraw_nonce(OWNER, 5 * 10**9), {}),
        # Funds that are not the wallet's (another payer's) are not ours to count.
        (system_ix(struct.pack("<IQ", 2, 5 * 10**9), NEW, STRANGER), {}),
        (allocate(AllocateParams(pubkey=OWNER, space=8)), {}),
        (assign(AssignParams(pubkey=NEW, owner=ROGUE)), {}),  # another account than the wallet
        (system_ix(struct.pack("<I", 8), OWNER), {}),  # a bare 4-byte harmless instruction
    ],
)
def test_system_instructions_count_the_sol_the_wallet_pays_out(ix: Instruction, outflow: dict) -> None:
    assert check(v0(ix)) == Outflow(outflow)


def test_sol_elsewhere_exactly_at_the_cap_passes_and_one_lamport_more_does_not() -> None:
    assert POLICY.max_sol_out_lamports == 10**7
    assert check(v0(sol(STRANGER, 10**7))) == Outflow({Asset.SOL: Decimal("0.01")})
    assert refused(v0(sol(STRANGER, 10**7 + 1))) == (
        "the transaction moves 0.010000001 SOL from the wallet to accounts that are not ours, more than "
        "the 0.01 SOL allowed per transaction"
    )
    # Whole SOL read as such, not as 2E+1.
    assert refused(v0(sol(STRANGER, 20 * 10**9))).startswith("the transaction moves 20 SOL from the wallet")


def test_system_transfers_sum_per_transaction_and_as_outflow() -> None:
    assert check(v0(sol(MINE, 10**9), sol(MINE, 2 * 10**9))) == Outflow({Asset.SOL: Decimal(3)})
    assert check(v0(sol(STRANGER, 4 * 10**6), sol(STRANGER, 5 * 10**6))) == Outflow(
        {Asset.SOL: Decimal("0.009")}
    )


@pytest.mark.parametrize(
    ("ix", "reason"),
    [
        (
            system_ix(struct.pack("<I", 2), OWNER, STRANGER),
            "instruction 1: System instruction 2 is malformed",
        ),
        (system_ix(b"\x02\x00", OWNER, STRANGER), "instruction 1: a System instruction too short to read"),
        (system_ix(struct.pack("<I", 13), OWNER), "instruction 1: System instruction 13 is not allowed"),
        (
            system_ix(struct.pack("<I", 0x80000002), OWNER),
            "instruction 1: System instruction 2147483650 is not allowed",
        ),
        (
            assign(AssignParams(pubkey=OWNER, owner=ROGUE)),
            f"instruction 1 assigns the wallet {OWNER} to another program (it would lose control of its SOL)",
        ),
        (
            # A seed length no message could hold.
            system_ix(
                struct.pack("<I", 3) + bytes(32) + struct.pack("<Q", 2**64 - 1) + bytes(48), OWNER, NEW
            ),
            "instruction 1: System instruction 3 is malformed",
        ),
        (
            # 2**63 lamports: read unsigned, far past the cap.
            system_ix(struct.pack("<IQ", 2, 2**63), OWNER, STRANGER),
            "the transaction moves 9223372036.854775808 SOL from the wallet to accounts that are not ours, "
            "more than the 0.01 SOL allowed per transaction",
        ),
    ],
)
def test_system_instructions_the_policy_cannot_read_or_allow_are_refused(
    ix: Instruction, reason: str
) -> None:
    assert refused(v0(unit_limit(1000), ix)) == reason


def test_sol_sent_to_an_account_loaded_from_a_table_counts_as_elsewhere() -> None:
    """An account past the static keys cannot be sorted before the table is read: it is no place of ours."""
    transfer = CompiledInstruction(1, struct.pack("<IQ", 2, 3_000_000), bytes([0, 2]))
    assert check(with_loaded_keys([OWNER, SYSTEM], [transfer])) == Outflow({Asset.SOL: Decimal("0.003")})
    # A transfer naming only its source sends to no readable account: elsewhere too.
    one_account = CompiledInstruction(1, struct.pack("<IQ", 2, 3_000_000), bytes([0]))
    assert check(with_loaded_keys([OWNER, SYSTEM], [one_account])) == Outflow({Asset.SOL: Decimal("0.003")})


# ---------------------------------------------------------------------- the priority fee
@pytest.mark.parametrize(
    ("ixs", "fee"),
    [
        # No limit: 200k units per instruction that is not a Compute Budget one, at least one instruction.
        ((unit_price(10_000),), "0.000002"),
        ((unit_price(10_000), sol(OWNER, 1)), "0.000002"),
        ((unit_price(10_000), sol(OWNER, 1), sol(OWNER, 1)), "0.000004"),
        ((unit_price(10_000), *[sol(OWNER, 1)] * 8), "0.000014"),  # at most 1.4M units
        # A stated limit; lamports round down.
        ((unit_limit(1000), unit_price(1500)), "0.000000001"),
        ((unit_limit(2**32 - 1), unit_price(1)), "0.000004294"),
    ],
)
def test_the_priority_fee_is_outflow(ixs: tuple[Instruction, ...], fee: str) -> None:
    assert check(v0(*ixs)) == Outflow({Asset.SOL: Decimal(fee)})


def test_the_priority_fee_adds_to_sol_sent_elsewhere_and_none_is_no_outflow() -> None:
    out = check(v0(unit_limit(100_000), unit_price(10_000), sol(STRANGER, 10_000)))
    assert out == Outflow({Asset.SOL: Decimal("0.000011")})
    assert check(v0(unit_limit(100_000), unit_price(1), sol(OWNER, 5))) == Outflow({})
    assert not check(v0(unit_limit(100_000), sol(OWNER, 5)))


def test_the_priority_fee_exactly_at_the_cap_passes_and_past_it_is_refused() -> None:
    assert POLICY.max_priority_fee_lamports == 5 * 10**6
    assert check(v0(unit_limit(1_000_000), unit_price(5_000_000))) == Outflow({Asset.SOL: Decimal("0.005")})
    assert refused(v0(unit_limit(1_000_000), unit_price(5_000_001))) == (
        "the priority fee is 0.005000001 SOL (5000001 micro-lamports x 1000000 compute units), more than the "
        "0.005 SOL allowed"
    )
    # A price no u64 reads as negative.
    assert refused(v0(unit_limit(1), unit_price(2**63))).startswith("the priority fee is 9223.372036854 SOL")


@pytest.mark.parametrize("data", [b"\x02\x01", b"\x03\x01\x02"])
def test_a_malformed_compute_budget_instruction_is_refused(data: bytes) -> None:
    assert refused(v0(unit_limit(1000), budget_ix(data))) == (
        "instruction 1: a malformed Compute Budget instruction"
    )


# ---------------------------------------------------------------------- tokens
def test_token_instructions_the_policy_does_not_read_are_refused_with_the_reason() -> None:
    empty = Instruction(TOKEN, b"", [AccountMeta(OWNER, True, False)])
    assert refused(v0(unit_limit(1000), empty)) == "instruction 1: an empty SPL Token instruction"
    extension = token_ix(26, ata(OWNER), USDC, ata(STRANGER), OWNER)
    assert refused(v0(unit_limit(1000), extension)) == (
        "instruction 1: token instruction 26 names the wallet and is not one the policy reads (only "
        "TransferChecked moves the wallet's tokens)"
    )
    # An extension instruction that does not name the wallet is someone else's business.
    assert check(v0(token_ix(26, ata(VENUE), USDC, ata(STRANGER), VENUE))) == Outflow({})
    close = token_ix(9, ata(OWNER), STRANGER, OWNER)
    assert refused(v0(unit_limit(1000), close)) == (
        f"instruction 1 closes a token account of the wallet into {STRANGER}, which is not ours"
    )
    assert check(v0(token_ix(9, ata(OWNER), WSOL_ACCOUNT, OWNER))) == Outflow({})
    short = Instruction(
        TOKEN,
        bytes([12]) + struct.pack("<Q", 1),
        [AccountMeta(a, a == OWNER, True) for a in (ata(OWNER), USDC, ata(VENUE), OWNER)],
    )
    assert refused(v0(unit_limit(1000), short)) == "instruction 1: a malformed TransferChecked"
    assert refused(v0(unit_limit(1000), token_ix(4, ata(OWNER), STRANGER, OWNER, data=bytes(8)))) == (
        "instruction 1: SPL Token Approve (a delegate could move the wallet's tokens later) is not allowed"
    )


def test_token_transfers_are_read_whole_and_capped() -> None:
    # 2**63 raw units are read unsigned: far past USDC's cap.
    assert refused(v0(send(2**63, VENUE))) == (
        "the transaction moves 9223372036854.775808 USDC out of the wallet, more than the 100000 USDC "
        "allowed per transaction"
    )
    assert refused(v0(unit_limit(1000), send(10**6, STRANGER))) == (
        f"instruction 1 transfers 1 USDC to {ata(STRANGER)}, which is not a token account of the wallet, "
        "of a venue, or of the registered withdrawal address"
    )
    assert refused(v0(unit_limit(1000), send(10**6, VENUE, JITOSOL, 6))) == (
        "instruction 1: TransferChecked of jitoSOL with 6 decimals (the mint has 9)"
    )
    # Exactly at the cap, to a venue and the withdrawal address together.
    assert check(v0(send(60_000 * 10**6, VENUE), send(40_000 * 10**6, MINE))) == Outflow(
        {Asset.USDC: Decimal(40_000)}
    )
    assert check(v0(send(10**6, MINE), send(2 * 10**6, MINE))) == Outflow({Asset.USDC: Decimal(3)})


def test_a_token_without_a_cap_may_not_leave_the_wallet() -> None:
    uncapped = TransactionValidator(
        TransactionPolicy(POLICY.solana_programs, 10**7, 5 * 10**6, Decimal(100)).trusting(str(VENUE))
    )
    assert refused(v0(send(2 * 10**9, VENUE, JITOSOL, 9)), uncapped) == (
        "the transaction moves 2 jitoSOL out of the wallet; jitoSOL may not leave it (the policy sets no "
        "per-transaction cap for it)"
    )


def test_a_transfer_whose_mint_is_loaded_from_a_table_is_refused() -> None:
    keys = [OWNER, ata(OWNER), ata(VENUE), TOKEN]
    transfer = CompiledInstruction(3, bytes([12]) + struct.pack("<QB", 1, 6), bytes([1, 4, 2, 0]))
    assert refused(with_loaded_keys(keys, [transfer])) == (
        "instruction 0 sends tokens of mint  out of the wallet; only the tokens the policy caps may leave it"
    )


# ---------------------------------------------------------------------- associated token accounts
def _create_ata(wallet: Pubkey, data: bytes) -> Instruction:
    return Instruction(
        ATA,
        data,
        [
            AccountMeta(OWNER, True, True),
            AccountMeta(ata(wallet), False, True),
            AccountMeta(wallet, False, False),
            AccountMeta(USDC, False, False),
        ],
    )


@pytest.mark.parametrize(
    ("data", "outflow"),
    [(b"", {Asset.SOL: Decimal("0.00203928")}), (b"\x01", {Asset.SOL: Decimal("0.00203928")}), (b"\x02", {})],
)
def test_associated_accounts_created_for_others_cost_their_rent(data: bytes, outflow: dict) -> None:
    assert check(v0(_create_ata(STRANGER, data))) == Outflow(outflow)
    assert check(v0(_create_ata(OWNER, data))) == Outflow({})


def test_an_associated_token_account_instruction_the_policy_does_not_know_is_refused() -> None:
    assert refused(v0(unit_limit(1000), _create_ata(OWNER, b"\x05"))) == (
        "instruction 1: Associated Token Account instruction 5"
    )


def test_no_registered_address_means_sol_to_it_is_elsewhere() -> None:
    out = VALIDATOR.check_solana_message(
        v0(sol(MINE, 10**6)), owner=str(OWNER), withdrawal=WithdrawalAddresses()
    )
    assert out == Outflow({Asset.SOL: Decimal("0.001")})


# ---------------------------------------------------------------------- lamports read unsigned, each variant
@pytest.mark.parametrize(
    "ix",
    [
        _create_with_seed(2**63),
        _transfer_with_seed(STRANGER, 2**63),
        _withdraw_nonce(STRANGER, 2**63),
    ],
)
def test_lamports_past_a_signed_64_bit_number_are_read_unsigned(ix: Instruction) -> None:
    """2**63 lamports read as a signed number would be negative and pass every cap."""
    assert refused(v0(ix)) == (
        "the transaction moves 9223372036.854775808 SOL from the wallet to accounts that are not ours, "
        "more than the 0.01 SOL allowed per transaction"
    )


def test_an_account_created_with_a_seed_is_funded_where_it_says() -> None:
    """The new account (its second account) is where the lamports go: here the registered address."""
    to_mine = create_account_with_seed(
        CreateAccountWithSeedParams(
            from_pubkey=OWNER, to_pubkey=MINE, base=NEW, seed=SEED, lamports=5 * 10**9, space=0, owner=SYSTEM
        )
    )
    assert check(v0(to_mine)) == Outflow({Asset.SOL: Decimal(5)})
