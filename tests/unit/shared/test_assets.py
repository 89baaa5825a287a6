import pytest

from shared.assets import HYPERLIQUID_BRIDGE, Asset, Chain, Protocol, token, token_by_mint


def test_lsts_are_sol_like() -> None:
    assert Asset.JITOSOL.is_lst and Asset.JITOSOL.is_sol_like
    assert Asset.SOL.is_sol_like and not Asset.SOL.is_lst
    assert not Asset.USDC.is_sol_like


def test_parse_is_case_insensitive_with_a_clear_error() -> None:
    assert Asset.parse("jitosol") is Asset.JITOSOL
    with pytest.raises(ValueError, match="unknown asset 'DOGE'"):
        Asset.parse("DOGE")


def test_collateral_is_sol_or_an_lst() -> None:
    assert Asset.parse_collateral("JITOSOL") is Asset.JITOSOL
    for text in ("USDC", "ETH", "DOGE"):
        with pytest.raises(ValueError, match=f"unknown collateral '{text}'; use SOL, jitoSOL"):
            Asset.parse_collateral(text)


def test_protocol_ids_are_asgards() -> None:
    assert [p.value for p in (Protocol.MARGINFI, Protocol.KAMINO, Protocol.SOLEND, Protocol.DRIFT)] == [
        0,
        1,
        2,
        3,
    ]
    assert Protocol.parse("kamino") is Protocol.KAMINO
    assert Protocol.parse("3") is Protocol.DRIFT
    with pytest.raises(ValueError):
        Protocol.parse("aave")


def test_mainnet_addresses() -> None:
    usdc_sol = token(Asset.USDC, Chain.SOLANA)
    assert usdc_sol.address == "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v" and usdc_sol.decimals == 6
    assert token(Asset.USDC, Chain.ARBITRUM).address == "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"
    assert HYPERLIQUID_BRIDGE.lower() == "0x2df1c51e09aecf9cacb7bc98cb1742757f163df7"
    assert token_by_mint("J1toso1uCk3RLmjorhTtrVwY9HJ7X8V9yYac6Y7kGCPn").asset is Asset.JITOSOL  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="not held on arbitrum"):
        token(Asset.JITOSOL, Chain.ARBITRUM)
