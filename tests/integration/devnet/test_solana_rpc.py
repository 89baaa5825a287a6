"""The Solana JSON-RPC front through solana-py's AsyncClient (and raw HTTP), against a real devnet process."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator

import httpx
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed, Finalized, Processed
from solana.rpc.core import RPCException
from solana.rpc.models import TokenAccountOpts, TxOpts
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.rpc.errors import RpcCustomErrorFieldless, SendTransactionPreflightFailureMessage
from solders.system_program import TransferParams, transfer
from solders.token.state import TokenAccount
from solders.transaction import VersionedTransaction
from spl.token.instructions import (
    create_idempotent_associated_token_account,
    get_associated_token_address,
    transfer_checked,
)
from spl.token.models import TransferCheckedParams

from tests.support.devnet import DevnetProcess, start_devnet
from tests.support.waiting import wait_until, wait_until_async

USDC = Pubkey.from_string("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v")
TOKEN_PROGRAM = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")


@pytest.fixture(scope="module")
def dn() -> Iterator[DevnetProcess]:
    devnet = start_devnet(only=["solana"], speed=1.0)
    yield devnet
    devnet.stop()


def funded(dn: DevnetProcess, sol: str = "2", usdc: str | None = None) -> Keypair:
    owner = Keypair()
    dn.faucet("solana", "SOL", str(owner.pubkey()), sol)
    if usdc is not None:
        dn.faucet("solana", "USDC", str(owner.pubkey()), usdc)
    return owner


async def slots_pass(client: AsyncClient, count: int = 2) -> None:
    """Until the chain has made `count` more slots: a transaction it took has landed by then."""
    start = (await client.get_slot(Processed)).value

    async def moved_on() -> bool:
        return (await client.get_slot(Processed)).value >= start + count

    await wait_until_async(moved_on, timeout=10, what=f"{count} more slots", every=0.05)


def signed(payer: Keypair, instructions: list, blockhash: Hash, v0: bool = False) -> VersionedTransaction:
    if v0:
        message = MessageV0.try_compile(payer.pubkey(), instructions, [], blockhash)
    else:
        message = Message.new_with_blockhash(instructions, payer.pubkey(), blockhash)
    return VersionedTransaction(message, [payer])


def rpc(dn: DevnetProcess, body: object) -> httpx.Response:
    return httpx.post(dn.url("solana"), json=body, timeout=10)


async def test_reads_sol_and_token_balances(dn: DevnetProcess) -> None:
    owner = funded(dn, sol="3", usdc="100")
    async with AsyncClient(dn.url("solana")) as client:
        assert (await client.get_balance(owner.pubkey())).value == 3 * 10**9
        parsed = await client.get_token_accounts_by_owner_json_parsed(
            owner.pubkey(), TokenAccountOpts(mint=USDC)
        )
        assert len(parsed.value) == 1
        account = parsed.value[0]
        assert account.pubkey == get_associated_token_address(owner.pubkey(), USDC)
        info = account.account.data.parsed["info"]
        assert info["tokenAmount"]["uiAmountString"] == "100" and info["owner"] == str(owner.pubkey())
        raw = await client.get_token_accounts_by_owner(
            owner.pubkey(), TokenAccountOpts(program_id=TOKEN_PROGRAM)
        )
        state = TokenAccount.from_bytes(raw.value[0].account.data)
        assert state.amount == 100_000_000 and state.mint == USDC
        balance = await client.get_token_account_balance(account.pubkey)
        assert balance.value.amount == "100000000" and balance.value.decimals == 6
        info_resp = await client.get_account_info(account.pubkey)
        assert info_resp.value is not None and info_resp.value.owner == TOKEN_PROGRAM
        assert (await client.get_account_info(Keypair().pubkey())).value is None


async def test_sol_transfer_confirms_and_moves_lamports(dn: DevnetProcess) -> None:
    payer, to = funded(dn), Keypair().pubkey()
    async with AsyncClient(dn.url("solana"), commitment=Confirmed) as client:
        latest = await client.get_latest_blockhash()
        tx = signed(
            payer,
            [transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=250_000_000))],
            latest.value.blockhash,
        )
        sent = await client.send_transaction(tx)
        assert sent.value == tx.signatures[0]
        await client.confirm_transaction(
            sent.value,
            Confirmed,
            sleep_seconds=0.1,
            last_valid_block_height=latest.value.last_valid_block_height,
        )
        assert (await client.get_balance(to)).value == 250_000_000
        assert (await client.get_balance(payer.pubkey())).value == 2 * 10**9 - 250_000_000 - 5_000
        fetched = await client.get_transaction(
            sent.value, commitment=Confirmed, max_supported_transaction_version=0
        )
        assert fetched.value is not None and fetched.value.transaction.meta.fee == 5_000
        # Finalized 32 slots later: skip them instead of waiting 13 s.
        dn.advance(slots=40)
        status = (await client.get_signature_statuses([sent.value])).value[0]
        assert status is not None and status.confirmations is None
        await client.confirm_transaction(sent.value, Finalized, sleep_seconds=0.1)


async def test_spl_token_transfer_in_a_v0_transaction_confirms(dn: DevnetProcess) -> None:
    payer = funded(dn, usdc="50")
    recipient = Keypair().pubkey()
    source = get_associated_token_address(payer.pubkey(), USDC)
    destination = get_associated_token_address(recipient, USDC)
    async with AsyncClient(dn.url("solana")) as client:
        blockhash = (await client.get_latest_blockhash(Confirmed)).value.blockhash
        instructions = [
            create_idempotent_associated_token_account(payer.pubkey(), recipient, USDC),
            transfer_checked(
                TransferCheckedParams(
                    program_id=TOKEN_PROGRAM,
                    source=source,
                    mint=USDC,
                    dest=destination,
                    owner=payer.pubkey(),
                    amount=12_500_000,
                    decimals=6,
                )
            ),
        ]
        sent = await client.send_transaction(
            signed(payer, instructions, blockhash, v0=True), TxOpts(preflight_commitment=Confirmed)
        )
        await client.confirm_transaction(sent.value, Confirmed, sleep_seconds=0.1)
        assert (await client.get_token_account_balance(destination)).value.ui_amount_string == "12.5"
        assert (await client.get_token_account_balance(source)).value.amount == "37500000"
        owned = await client.get_token_accounts_by_owner_json_parsed(recipient, TokenAccountOpts(mint=USDC))
        assert [a.pubkey for a in owned.value] == [destination]


async def test_expired_blockhash_is_refused_with_blockhash_not_found(dn: DevnetProcess) -> None:
    payer = funded(dn)
    async with AsyncClient(dn.url("solana")) as client:
        latest = (await client.get_latest_blockhash(Processed)).value
        ix = transfer(
            TransferParams(from_pubkey=payer.pubkey(), to_pubkey=Keypair().pubkey(), lamports=10**7)
        )
        tx = signed(payer, [ix], latest.blockhash)
        dn.advance(slots=200)
        assert (await client.get_block_height(Processed)).value > latest.last_valid_block_height
        valid = rpc(
            dn, {"jsonrpc": "2.0", "id": 1, "method": "isBlockhashValid", "params": [str(latest.blockhash)]}
        )
        assert valid.json()["result"]["value"] is False
        with pytest.raises(RPCException) as caught:
            await client.send_transaction(tx)
        failure = caught.value.args[0]
        assert isinstance(failure, SendTransactionPreflightFailureMessage)
        assert failure.message == "Transaction simulation failed: Blockhash not found"
        assert "BlockhashNotFound" in str(failure.data.err)
        # Without preflight the node takes it, and it never lands.
        sent = await client.send_transaction(tx, TxOpts(skip_preflight=True))
        await slots_pass(client)
        assert (await client.get_signature_statuses([sent.value], search_transaction_history=True)).value == [
            None
        ]


async def test_tampered_signature_is_refused(dn: DevnetProcess) -> None:
    payer = funded(dn)
    async with AsyncClient(dn.url("solana")) as client:
        blockhash = (await client.get_latest_blockhash()).value.blockhash
        ix = transfer(
            TransferParams(from_pubkey=payer.pubkey(), to_pubkey=Keypair().pubkey(), lamports=10**7)
        )
        raw = bytearray(bytes(signed(payer, [ix], blockhash)))
        raw[10] ^= 0x01
        with pytest.raises(RPCException) as caught:
            await client.send_raw_transaction(bytes(raw))
        # solders recognises the validator's -32003 and names it.
        assert caught.value.args[0] == RpcCustomErrorFieldless.TransactionSignatureVerificationFailure
        answer = rpc(
            dn,
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "sendTransaction",
                "params": [base64.b64encode(raw).decode(), {"encoding": "base64"}],
            },
        ).json()
        assert answer["error"] == {"code": -32003, "message": "Transaction signature verification failure"}


async def test_simulate_transaction(dn: DevnetProcess) -> None:
    payer, to = funded(dn), Keypair().pubkey()
    async with AsyncClient(dn.url("solana")) as client:
        blockhash = (await client.get_latest_blockhash()).value.blockhash
        ok = signed(
            payer,
            [transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=10**8))],
            blockhash,
        )
        sim = await client.simulate_transaction(ok, sig_verify=True, accounts_addresses=[to])
        assert sim.value.err is None and sim.value.units_consumed and sim.value.logs
        assert sim.value.accounts is not None and sim.value.accounts[0].lamports == 10**8
        assert (await client.get_balance(to)).value == 0
        too_much = signed(
            payer,
            [transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=10**12))],
            blockhash,
        )
        failed = await client.simulate_transaction(too_much)
        assert failed.value.err is not None and "InstructionError" in str(failed.value.err)
        # An old blockhash simulates fine once replaced.
        dn.advance(slots=200)
        stale = await client.simulate_transaction(ok)
        assert "BlockhashNotFound" in str(stale.value.err)
        replaced = await client.simulate_transaction(ok, replace_recent_blockhash=True)
        assert replaced.value.err is None


async def test_request_airdrop_confirms(dn: DevnetProcess) -> None:
    owner = Keypair().pubkey()
    async with AsyncClient(dn.url("solana")) as client:
        sig = (await client.request_airdrop(owner, 5 * 10**9)).value
        await client.confirm_transaction(sig, Confirmed, sleep_seconds=0.1)
        assert (await client.get_balance(owner, Confirmed)).value == 5 * 10**9


async def test_cluster_methods_the_client_uses(dn: DevnetProcess) -> None:
    async with AsyncClient(dn.url("solana")) as client:
        assert await client.is_connected()
        version = await client.get_version()
        assert version.value.solana_core
        epoch = (await client.get_epoch_info()).value
        assert epoch.slots_in_epoch == 432_000 and epoch.absolute_slot % 432_000 == epoch.slot_index
        assert (await client.get_minimum_balance_for_rent_exemption(165)).value == 2_039_280
        assert str((await client.get_genesis_hash()).value)
        processed = (await client.get_slot(Processed)).value
        finalized = (await client.get_slot(Finalized)).value
        assert processed - finalized in (32, 33)
        payer = Keypair()
        blockhash = (await client.get_latest_blockhash()).value.blockhash
        message = Message.new_with_blockhash(
            [transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=Keypair().pubkey(), lamports=1))],
            payer.pubkey(),
            blockhash,
        )
        assert (await client.get_fee_for_message(message)).value == 5_000
        supply = (await client.get_token_supply(USDC)).value
        assert supply.decimals == 6
        accounts = (await client.get_multiple_accounts([USDC, Keypair().pubkey()])).value
        assert accounts[0] is not None and accounts[1] is None


def test_batched_requests(dn: DevnetProcess) -> None:
    owner = funded(dn, sol="1.5")
    answer = rpc(
        dn,
        [
            {"jsonrpc": "2.0", "id": 1, "method": "getBalance", "params": [str(owner.pubkey())]},
            {"jsonrpc": "2.0", "id": 2, "method": "getSlot", "params": [{"commitment": "processed"}]},
            {"jsonrpc": "2.0", "id": 3, "method": "getNothing"},
        ],
    ).json()
    by_id = {a["id"]: a for a in answer}
    assert by_id[1]["result"]["value"] == 1_500_000_000
    assert by_id[1]["result"]["context"]["apiVersion"]
    assert by_id[2]["result"] >= by_id[1]["result"]["context"]["slot"]
    assert by_id[3]["error"] == {"code": -32601, "message": "Method not found"}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{oops", -32700),
        (b"[]", -32600),
        (b'{"jsonrpc":"2.0","id":1,"method":7}', -32600),
        (b'{"jsonrpc":"2.0","id":1,"method":"getFoo","params":[]}', -32601),
        (b'{"jsonrpc":"2.0","id":1,"method":"getBalance","params":[]}', -32602),
        (b'{"jsonrpc":"2.0","id":1,"method":"getBalance","params":["not-base58-0OIl"]}', -32602),
        (
            b'{"jsonrpc":"2.0","id":1,"method":"sendTransaction","params":["AAAA",{"encoding":"base64"}]}',
            -32602,
        ),
        (
            b'{"jsonrpc":"2.0","id":1,"method":"sendTransaction","params":["@@@@",{"encoding":"base64"}]}',
            -32602,
        ),
        (b'{"jsonrpc":"2.0","id":1,"method":"getSignatureStatuses","params":[["x"]]}', -32602),
    ],
)
def test_garbage_gets_json_rpc_errors(dn: DevnetProcess, body: bytes, code: int) -> None:
    response = httpx.post(
        dn.url("solana"), content=body, headers={"content-type": "application/json"}, timeout=10
    )
    assert response.status_code == 200
    assert response.json()["error"]["code"] == code


def test_http_level_answers(dn: DevnetProcess) -> None:
    url = dn.url("solana")
    wrong_type = httpx.post(
        url, content=b'{"jsonrpc":"2.0","id":1,"method":"getSlot"}', headers={"content-type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    assert httpx.get(url + "/health").text == "ok"
    assert httpx.get(url).status_code == 405
    assert (
        httpx.post(url, content=b"x" * 60_000, headers={"content-type": "application/json"}).status_code
        == 413
    )


def test_get_balance_is_fast(dn: DevnetProcess) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "getBalance", "params": [str(Keypair().pubkey())]}
    with httpx.Client() as client:
        client.post(dn.url("solana"), json=body)
        samples = []
        for _ in range(200):
            start = time.perf_counter()
            client.post(dn.url("solana"), json=body)
            samples.append(time.perf_counter() - start)
    samples.sort()
    assert samples[len(samples) // 2] < 0.005  # about a millisecond on loopback; generous for slow CI


def test_dropped_transactions_never_land(devnet_factory) -> None:  # type: ignore[no-untyped-def]
    dn = devnet_factory(only=["solana"], speed=1.0)
    payer = funded(dn)
    dn.faults("solana", drop_rate=1.0)

    async def scenario() -> None:
        async with AsyncClient(dn.url("solana")) as client:
            blockhash = (await client.get_latest_blockhash()).value.blockhash
            to = Keypair().pubkey()
            tx = signed(
                payer,
                [transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=10**8))],
                blockhash,
            )
            sent = await client.send_transaction(tx)
            await slots_pass(client)
            assert (
                await client.get_signature_statuses([sent.value], search_transaction_history=True)
            ).value == [None]
            assert (await client.get_balance(to)).value == 0

    asyncio.run(scenario())


def test_outage_answers_503_and_stops_the_slot(devnet_factory) -> None:  # type: ignore[no-untyped-def]
    dn = devnet_factory(only=["solana"], speed=1.0)
    dn.scenario("venue_outage", venue="solana", minutes=None)
    wait_until(
        lambda: dn.state()["solana"]["halted"], timeout=10, what="the devnet's ticker to halt the chain"
    )
    before = dn.state()["solana"]["slot"]
    assert rpc(dn, {"jsonrpc": "2.0", "id": 1, "method": "getSlot"}).status_code == 503
    # Not a wait for readiness: a window in which a running chain would have made ~2 slots.
    time.sleep(1.0)
    assert dn.state()["solana"]["slot"] == before
    dn.scenario("calm")
    wait_until(lambda: dn.state()["solana"]["slot"] > before, timeout=10, what="the slot to move again")
    assert (
        rpc(
            dn, {"jsonrpc": "2.0", "id": 1, "method": "getSlot", "params": [{"commitment": "processed"}]}
        ).json()["result"]
        > before
    )
