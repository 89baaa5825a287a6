"""Native USDC on Arbitrum One (Circle's FiatToken v2.2 behind its proxy) as its users see it.

The ERC-20 surface a depositor touches: `balanceOf`, `transfer`, `approve`, `allowance`,
`transferFrom`, `totalSupply`, `decimals`, `symbol`, `name`, `version`, `nonces`,
`DOMAIN_SEPARATOR`, with FiatToken's revert strings and the standard `Transfer` / `Approval` logs.
Calldata is ABI-decoded the way the compiled contract does: a short argument list reverts with
no data, an unknown selector reverts with no data, and no function accepts ETH.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address

from shared.assets import ARBITRUM_CHAIN_ID, Asset, Chain, token

USDC_ADDRESS = to_checksum_address(token(Asset.USDC, Chain.ARBITRUM).address or "")
USDC_DECIMALS = token(Asset.USDC, Chain.ARBITRUM).decimals
NAME = "USD Coin"
SYMBOL = "USDC"
VERSION = "2"  # the EIP-712 domain version (permit signatures)
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
EIP712_DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"


def selector(signature: str) -> bytes:
    return function_signature_to_4byte_selector(signature)


BALANCE_OF = selector("balanceOf(address)")
TRANSFER = selector("transfer(address,uint256)")
TRANSFER_FROM = selector("transferFrom(address,address,uint256)")
APPROVE = selector("approve(address,uint256)")
ALLOWANCE = selector("allowance(address,address)")
TOTAL_SUPPLY = selector("totalSupply()")
DECIMALS = selector("decimals()")
SYMBOL_SEL = selector("symbol()")
NAME_SEL = selector("name()")
VERSION_SEL = selector("version()")
NONCES = selector("nonces(address)")
DOMAIN_SEPARATOR = selector("DOMAIN_SEPARATOR()")
ERROR_STRING = selector("Error(string)")

TRANSFER_TOPIC = keccak(text="Transfer(address,address,uint256)")
APPROVAL_TOPIC = keccak(text="Approval(address,address,uint256)")

# Execution gas beyond the intrinsic cost, close to what FiatToken v2.2 burns behind its proxy.
GAS_VIEW = 2_600
GAS_TRANSFER = 34_000
GAS_TRANSFER_NEW_HOLDER = 51_000  # the recipient's balance slot goes from zero to non-zero
GAS_APPROVE = 29_000
GAS_REVERT = 24_000


@dataclass(frozen=True)
class Log:
    address: str
    topics: tuple[bytes, ...]
    data: bytes


@dataclass
class CallResult:
    success: bool
    output: bytes  # return data, or revert data when not successful
    gas: int
    logs: list[Log] = field(default_factory=list)

    @property
    def revert_reason(self) -> str | None:
        """The Error(string) message of a revert, if it carries one."""
        if self.success or not self.output.startswith(ERROR_STRING):
            return None
        from eth_abi import decode

        try:
            return str(decode(["string"], self.output[4:])[0])
        except Exception:
            return None


def address_word(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:])


def revert_data(reason: str) -> bytes:
    return ERROR_STRING + encode(["string"], [reason])


def transfer_log(sender: str, recipient: str, amount: int) -> Log:
    return Log(
        USDC_ADDRESS,
        (TRANSFER_TOPIC, address_word(sender), address_word(recipient)),
        amount.to_bytes(32, "big"),
    )


class UsdcToken:
    """Balances and allowances in raw units (6 decimals); `execute` runs one call against them."""

    def __init__(self) -> None:
        self.balances: dict[str, int] = {}
        self.allowances: dict[tuple[str, str], int] = {}
        self.total_supply = 0
        self.domain_separator = keccak(
            encode(
                ["bytes32", "bytes32", "bytes32", "uint256", "address"],
                [
                    keccak(text=EIP712_DOMAIN_TYPE),
                    keccak(text=NAME),
                    keccak(text=VERSION),
                    ARBITRUM_CHAIN_ID,
                    USDC_ADDRESS,
                ],
            )
        )

    def balance_of(self, address: str) -> int:
        return self.balances.get(address, 0)

    def mint(self, address: str, amount: int) -> None:
        self.balances[address] = self.balance_of(address) + amount
        self.total_supply += amount

    def execute(self, sender: str, data: bytes, value: int, *, commit: bool) -> CallResult:
        """Run `data` as a call from `sender`; state changes only if `commit` and the call succeeds."""
        if value:
            return _revert(b"")  # no payable function
        sel, args = data[:4], data[4:]
        if sel == TRANSFER and len(args) >= 64:
            return self._transfer(sender, sender, _address(args, 0), _uint(args, 1), commit)
        if sel == TRANSFER_FROM and len(args) >= 96:
            return self._transfer_from(sender, args, commit)
        if sel == APPROVE and len(args) >= 64:
            return self._approve(sender, args, commit)
        answer = self._view(sel, args)
        # An unknown selector or short calldata: the contract reverts without a reason.
        return _ok(answer) if answer is not None else _revert(b"")

    def _view(self, sel: bytes, args: bytes) -> bytes | None:
        """What a read-only function answers, or None when `sel` is none of them (or `args` too short)."""
        if sel == BALANCE_OF and len(args) >= 32:
            return self.balance_of(_address(args, 0)).to_bytes(32, "big")
        if sel == ALLOWANCE and len(args) >= 64:
            owner, spender = _address(args, 0), _address(args, 1)
            return self.allowances.get((owner, spender), 0).to_bytes(32, "big")
        if sel == NONCES and len(args) >= 32:
            return bytes(32)  # no permit has been used on the devnet
        constants = {
            TOTAL_SUPPLY: lambda: self.total_supply.to_bytes(32, "big"),
            DECIMALS: lambda: USDC_DECIMALS.to_bytes(32, "big"),
            SYMBOL_SEL: lambda: encode(["string"], [SYMBOL]),
            NAME_SEL: lambda: encode(["string"], [NAME]),
            VERSION_SEL: lambda: encode(["string"], [VERSION]),
            DOMAIN_SEPARATOR: lambda: self.domain_separator,
        }
        answer = constants.get(sel)
        return answer() if answer is not None else None

    def _transfer_from(self, sender: str, args: bytes, commit: bool) -> CallResult:
        owner = _address(args, 0)
        amount = _uint(args, 2)
        allowed = self.allowances.get((owner, sender), 0)
        if amount > allowed:
            return _revert(revert_data("ERC20: transfer amount exceeds allowance"))
        result = self._transfer(sender, owner, _address(args, 1), amount, commit)
        if result.success and commit:
            self.allowances[(owner, sender)] = allowed - amount
        return result

    def _approve(self, sender: str, args: bytes, commit: bool) -> CallResult:
        spender, amount = _address(args, 0), _uint(args, 1)
        if spender == ZERO_ADDRESS:
            return _revert(revert_data("ERC20: approve to the zero address"))
        if commit:
            self.allowances[(sender, spender)] = amount
        log = Log(USDC_ADDRESS, (APPROVAL_TOPIC, address_word(sender), address_word(spender)), _word(amount))
        return CallResult(True, _word(1), GAS_APPROVE, [log])

    def _transfer(self, caller: str, owner: str, recipient: str, amount: int, commit: bool) -> CallResult:
        if recipient == ZERO_ADDRESS:
            return _revert(revert_data("ERC20: transfer to the zero address"))
        held = self.balance_of(owner)
        if amount > held:
            return _revert(revert_data("ERC20: transfer amount exceeds balance"))
        gas = GAS_TRANSFER if self.balance_of(recipient) or recipient == owner else GAS_TRANSFER_NEW_HOLDER
        if commit:
            self.balances[owner] = held - amount
            self.balances[recipient] = self.balance_of(recipient) + amount
        return CallResult(True, _word(1), gas, [transfer_log(owner, recipient, amount)])


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _address(args: bytes, index: int) -> str:
    # The compiled contract keeps only the low 20 bytes of an address word.
    return to_checksum_address(args[index * 32 + 12 : index * 32 + 32])


def _uint(args: bytes, index: int) -> int:
    return int.from_bytes(args[index * 32 : index * 32 + 32], "big")


def _ok(output: bytes) -> CallResult:
    return CallResult(True, output, GAS_VIEW)


def _revert(output: bytes) -> CallResult:
    return CallResult(False, output, GAS_REVERT)
