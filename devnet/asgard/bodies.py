"""Request bodies of Asgard's API, with the field names of its public doc.

Unknown fields are ignored, as a JSON API that grows does. Integers refuse booleans (`true` is not a
protocol id). Submit bodies are not modelled: they are the build's answer echoed back, read as a
plain object.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    return value


Int = Annotated[int, BeforeValidator(_not_bool)]
Number = Annotated[Decimal, BeforeValidator(_not_bool), Field(allow_inf_nan=False)]


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TradeRequest(Body):
    """`TradeRequestBody` of `/create-position` and `/create-position-simulate`."""

    protocol: Int
    tokenABank: str
    tokenBBank: str
    direction: Int
    collateralType: Int
    collateralAmountNative: Int
    collateralMint: str
    collateralUnitPrice: Number
    leverage: Number
    jitoTipLamport: Int = 0
    slippageBps: Int
    walletPubkey: str
    useDirectRoute: bool = False


class CloseRequest(Body):
    """`CloseIsolatedPositionRequestBody`; collateralType is the token to receive (0 token A, 1 USDC)."""

    protocol: Int
    walletPubkey: str
    positionPDA: str
    collateralType: Int = 1
    jitoTipLamport: Int = 0
    slippageBps: Int
    useDirectRoute: bool = False


class PartialCloseRequest(Body):
    """`PartialClosePositionRequestBody`."""

    protocol: Int
    walletPubkey: str
    positionPDA: str
    closePercentage: Number
    jitoTipLamport: Int = 0
    slippageBps: Int
    useDirectRoute: bool = False
    swapPlatform: Literal["dflow", "jupiter"] | None = None


class DeleverageRequest(Body):
    """`DeleveragePositionRequestBody`: targetLeverage must be >= 1.0 and < the current leverage."""

    protocol: Int
    walletPubkey: str
    positionPDA: str
    targetLeverage: Number
    jitoTipLamport: Int = 0
    slippageBps: Int
    useDirectRoute: bool = False
    swapPlatform: Literal["dflow", "jupiter"] | None = None


class WalletRequest(Body):
    walletPubkey: str


class PositionRef(Body):
    protocol: Int
    positionPDA: str


class RefreshRequest(Body):
    """`RefreshPositionRequestBody`."""

    positionPDAs: list[PositionRef] = Field(min_length=1, max_length=100)


class UpdateSubmitRequest(Body):
    """`SubmitPositionUpdateTxRequestBody` of `/submit-position-update-tx`: every field Asgard's doc
    lists outside "Optional metadata" is required."""

    protocol: Int
    walletPubkey: str
    positionPDA: str
    positionId: Int
    tokenATokenMint: str
    tokenBTokenMint: str
    signedTxs: list[str] = Field(min_length=1)
    updateRecordData: dict[str, Any]
    feesMetadata: dict[str, Any] | None = None
    swapRouteMetadata: dict[str, Any] | None = None
    lendingApyAtUpdate: Number | None = None
    borrowingApyAtUpdate: Number | None = None
